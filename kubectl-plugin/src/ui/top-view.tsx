import { Box, Text } from "ink";
import type { SortKey, TopHost, TopSnapshot, TopTask } from "../top/top-model.js";
import { visibleHosts, visibleTasks } from "../top/top-model.js";
import { compactBytes, fit, HOST_COLUMNS, hostCells, progressBar, taskLabel } from "./top-columns.js";

export interface TopViewProps {
  /** Undefined until the first snapshot arrives. */
  snapshot: TopSnapshot | undefined;
  sort: SortKey;
  /** The applied filter ("" for none). */
  filter: string;
  /** The filter being typed after `/` (undefined when not editing). */
  draft?: string | undefined;
  /** The connection's state, e.g. "connecting to ...", "reconnecting: ...". */
  status?: string | undefined;
  columns: number;
  rows: number;
}

const MIN_HOST_WIDTH = 6;
/** Title, hosts header, tasks header, footer. */
const CHROME_LINES = 4;

function Line({ text, inverse, color }: { text: string; inverse?: boolean; color?: string }) {
  return (
    <Text wrap="truncate" inverse={inverse ?? false} {...(color ? { color } : {})}>
      {text}
    </Text>
  );
}

/** Host names, with the upload port where one machine runs several daemons. */
function hostLabels(hosts: readonly TopHost[]): Map<string, string> {
  const count = new Map<string, number>();
  for (const h of hosts) count.set(h.hostname, (count.get(h.hostname) ?? 0) + 1);
  return new Map(
    hosts.map((h) => [h.id, (count.get(h.hostname) ?? 0) > 1 ? `${h.hostname}:${h.downloadPort}` : h.hostname]),
  );
}

function hostLine(host: TopHost, label: string, hostWidth: number): string {
  const cells = hostCells(host);
  return fit(label, hostWidth) + HOST_COLUMNS.map((c) => ` ${fit(cells[c.key], c.width, "right")}`).join("");
}

function hostHeader(hostWidth: number, sort: SortKey): string {
  const mark = (key: string, title: string) => (key === sort ? `${title}*` : title);
  return (
    fit(mark("host", "HOST"), hostWidth) +
    HOST_COLUMNS.map((c) => ` ${fit(mark(c.key, c.title), c.width, "right")}`).join("")
  );
}

function taskLine(task: TopTask, labelWidth: number, barWidth: number): string {
  const percent = task.pieceCount > 0 ? Math.floor((100 * task.finishedPieces) / task.pieceCount) : 0;
  return [
    fit(taskLabel(task), labelWidth),
    fit(String(task.peersRunning), 5, "right"),
    progressBar(task.finishedPieces, task.pieceCount, barWidth),
    fit(`${percent}%`, 4, "right"),
    fit(compactBytes(task.contentLength), 7, "right"),
  ].join(" ");
}

/** Splits the lines left between hosts and tasks: tasks get up to a third, hosts the rest. */
function budget(available: number, hosts: number, tasks: number): { hostRows: number; taskRows: number } {
  const taskRows = Math.min(tasks, Math.max(tasks > 0 ? 1 : 0, Math.floor(available / 3)), available);
  const hostRows = Math.min(hosts, Math.max(0, available - taskRows));
  return { hostRows, taskRows: Math.min(tasks, available - hostRows) };
}

interface Row {
  key: string;
  text: string;
}

/** Rows of a table cut to `limit` lines, the last one saying how many more there are. */
function cut<T>(items: readonly T[], limit: number, key: (item: T) => string, line: (item: T) => string): Row[] {
  const row = (item: T) => ({ key: key(item), text: line(item) });
  if (items.length <= limit) return items.map(row);
  if (limit <= 0) return [];
  return [...items.slice(0, limit - 1).map(row), { key: "more", text: `… ${items.length - limit + 1} more` }];
}

/** `kubectl d7y top`'s screen: props in, no I/O. Never wider than `columns` nor taller than `rows - 1`. */
export function TopView({ snapshot, sort, filter, draft, status, columns, rows }: TopViewProps) {
  const width = Math.max(20, columns);
  const ratio = snapshot?.p2pRatio === undefined ? "-" : `${(snapshot.p2pRatio * 100).toFixed(1)}%`;
  const title = snapshot
    ? `d7y top  P2P ${ratio}  peers ${compactBytes(snapshot.bytesFromPeers)}  origin ${compactBytes(snapshot.bytesFromSource)}  ${new Date(snapshot.timeMs).toISOString().slice(11, 19)}`
    : `d7y top  ${status ?? "waiting for the first snapshot"}`;
  const hosts = snapshot ? visibleHosts(snapshot.hosts, sort, filter) : [];
  const labels = hostLabels(snapshot?.hosts ?? []);
  const tasks = snapshot ? visibleTasks(snapshot.tasks, filter) : [];
  const { hostRows, taskRows } = budget(Math.max(0, rows - 1 - CHROME_LINES), hosts.length, tasks.length);
  const fixed = HOST_COLUMNS.reduce((sum, c) => sum + c.width + 1, 0);
  const hostWidth = Math.max(MIN_HOST_WIDTH, width - fixed);
  const barWidth = Math.min(22, Math.max(5, Math.floor(width / 4)));
  const labelWidth = Math.max(8, width - (5 + barWidth + 4 + 7 + 4));
  const footer =
    draft !== undefined
      ? `filter: ${draft}_  (Enter apply, Esc clear)`
      : `q quit  s sort (${sort})  / filter${filter ? ` [${filter}]` : ""}${status && snapshot ? `  ${status}` : ""}`;
  return (
    <Box flexDirection="column" width={width}>
      <Line text={title} color="cyan" />
      <Line text={hostHeader(hostWidth, sort)} inverse />
      {cut(
        hosts,
        hostRows,
        (h) => h.id,
        (h) => hostLine(h, labels.get(h.id) ?? h.hostname, hostWidth),
      ).map((row) => (
        <Line key={row.key} text={row.text} />
      ))}
      <Line text={fit(`TASKS IN FLIGHT (${tasks.length})`, width)} inverse />
      {cut(
        tasks,
        taskRows,
        (t) => t.taskId,
        (t) => taskLine(t, labelWidth, barWidth),
      ).map((row) => (
        <Line key={row.key} text={row.text} />
      ))}
      <Line text={footer} color={draft !== undefined ? "yellow" : "gray"} />
    </Box>
  );
}
