import { nextSortKey, type SortKey } from "../top/top-model.js";

/** What the keys change in `top`. */
export interface TopControls {
  sort: SortKey;
  /** The applied filter ("" for none). */
  filter: string;
  /** The filter being typed after `/`; undefined when not editing. */
  draft: string | undefined;
}

/** The subset of Ink's key flags the keys use. */
export interface KeyFlags {
  escape?: boolean;
  return?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
}

const MAX_FILTER_LENGTH = 64;

/** One key press: the new controls, or "quit" (`q` or Ctrl-C outside the filter prompt). */
export function applyKey(controls: TopControls, input: string, key: KeyFlags): TopControls | "quit" {
  const { draft } = controls;
  if (key.ctrl && input === "c") return "quit";
  if (draft !== undefined) {
    if (key.escape) return { ...controls, draft: undefined, filter: "" };
    if (key.return) return { ...controls, draft: undefined, filter: draft.trim() };
    if (key.backspace || key.delete) return { ...controls, draft: draft.slice(0, -1) };
    if (input && !key.ctrl && !key.meta) return { ...controls, draft: (draft + input).slice(0, MAX_FILTER_LENGTH) };
    return controls;
  }
  if (input === "q") return "quit";
  if (input === "s") return { ...controls, sort: nextSortKey(controls.sort) };
  if (input === "/") return { ...controls, draft: "" };
  if (key.escape) return { ...controls, filter: "" };
  return controls;
}
