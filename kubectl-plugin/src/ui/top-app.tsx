import { useInput, useStdout } from "ink";
import { useEffect, useRef, useState } from "react";
import type { TopSnapshot } from "../top/top-model.js";
import { applyKey, type TopControls } from "./top-keys.js";
import { TopView } from "./top-view.js";

export interface TopAppProps {
  snapshot: TopSnapshot | undefined;
  status?: string | undefined;
  /** `q` (or Ctrl-C): the command stops its stream and unmounts. */
  onQuit: () => void;
  /** Fixed size (tests); by default the terminal's, followed on resize. */
  columns?: number;
  rows?: number;
}

/** The terminal's size, re-read on every resize event. */
function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on("resize", onResize);
    return () => {
      stdout.off("resize", onResize);
    };
  });
  return size;
}

/** `top`'s keys around TopView: `q` quits, `s` cycles the sort column, `/` edits the filter (Enter applies, Esc clears). */
export function TopApp({ snapshot, status, onQuit, columns, rows }: TopAppProps) {
  const size = useTerminalSize();
  // A ref, not state: several keys can arrive before the next render (typing fast, pasting).
  const controls = useRef<TopControls>({ sort: "down", filter: "", draft: undefined });
  const [, setVersion] = useState(0);
  useInput((input, key) => {
    const next = applyKey(controls.current, input, key);
    if (next === "quit") {
      onQuit();
      return;
    }
    if (next === controls.current) return;
    controls.current = next;
    setVersion((version) => version + 1);
  });
  const { sort, filter, draft } = controls.current;
  return (
    <TopView
      snapshot={snapshot}
      sort={sort}
      filter={filter}
      draft={draft}
      status={status}
      columns={columns ?? size.columns}
      rows={rows ?? size.rows}
    />
  );
}
