import { Box, Text } from "ink";
import type { Job, JobState } from "../services/manager-client.js";
import { formatBytes, shortDigest } from "./table.js";

/** One image being preheated: its job as last fetched from the manager. */
export interface PreheatItem {
  image: string;
  job: Job;
}

export interface PreheatProgressProps {
  items: readonly PreheatItem[];
}

const STATE_COLOR: Record<string, string> = {
  PENDING: "yellow",
  STARTED: "cyan",
  SUCCESS: "green",
  FAILURE: "red",
  success: "green",
  failure: "red",
  failed: "red",
};

function StateText({ state }: { state: JobState | string }) {
  const color = STATE_COLOR[state];
  return color ? <Text color={color}>{state}</Text> : <Text>{state}</Text>;
}

const COLUMNS = { layer: 21, size: 11, host: 28, state: 10 } as const;

function Row({
  layer,
  size,
  host,
  state,
  time,
}: {
  layer: string;
  size: string;
  host: string;
  state: string;
  time: string;
}) {
  return (
    <Box>
      <Box width={COLUMNS.layer}>
        <Text>{layer}</Text>
      </Box>
      <Box width={COLUMNS.size}>
        <Text>{size}</Text>
      </Box>
      <Box width={COLUMNS.host}>
        <Text wrap="truncate-end">{host}</Text>
      </Box>
      <Box width={COLUMNS.state}>
        <StateText state={state} />
      </Box>
      <Text>{time}</Text>
    </Box>
  );
}

/** The live view of one job: header, then a row per (layer, host) from result.layers. */
export function JobProgress({ image, job }: PreheatItem) {
  const layers = job.result?.layers ?? [];
  const downloads = layers.flatMap((layer) => layer.hosts);
  const done = downloads.filter((host) => host.state === "SUCCESS" || host.state === "FAILURE").length;
  const platform = job.result?.platform ?? job.args.platform;
  return (
    <Box flexDirection="column">
      <Box gap={2}>
        <Text bold>job {job.id}</Text>
        <Text>{image}</Text>
        <StateText state={job.state} />
        {platform ? <Text dimColor>{platform}</Text> : null}
        {downloads.length > 0 ? (
          <Text>
            {done}/{downloads.length} downloads
          </Text>
        ) : null}
      </Box>
      {layers.length > 0 ? (
        <Box flexDirection="column" paddingLeft={2}>
          <Row layer="LAYER" size="SIZE" host="HOST" state="STATE" time="TIME" />
          {layers.flatMap((layer) =>
            layer.hosts.length === 0
              ? [
                  <Row
                    key={layer.digest}
                    layer={shortDigest(layer.digest)}
                    size={formatBytes(layer.size)}
                    host="-"
                    state="PENDING"
                    time=""
                  />,
                ]
              : layer.hosts.map((host) => (
                  <Row
                    key={`${layer.digest}/${host.hostname}/${host.ip}`}
                    layer={shortDigest(layer.digest)}
                    size={formatBytes(layer.size)}
                    host={`${host.hostname} (${host.ip})`}
                    state={host.state}
                    time={host.cost_ms === undefined ? "" : `${host.cost_ms} ms`}
                  />
                )),
          )}
        </Box>
      ) : null}
      {job.state === "FAILURE" && job.result?.error ? (
        <Box paddingLeft={2}>
          <Text color="red">{job.result.error}</Text>
        </Box>
      ) : null}
    </Box>
  );
}

/** Every image of one `kubectl d7y preheat`. */
export function PreheatProgress({ items }: PreheatProgressProps) {
  return (
    <Box flexDirection="column" gap={1}>
      {items.map((item) => (
        <JobProgress key={item.job.id} image={item.image} job={item.job} />
      ))}
    </Box>
  );
}
