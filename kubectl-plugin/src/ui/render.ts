import { render, renderToString } from "ink";
import type { ReactElement } from "react";

/** A view that is redrawn as its props change. */
export interface LiveView {
  update(node: ReactElement): void;
  /** Draws `node` as the last frame and releases the terminal. */
  finish(node: ReactElement): Promise<void>;
}

/**
 * The one place Ink components are mounted. On a terminal the view is redrawn in place; on a pipe or a file
 * (CI logs, tests) only the final frame is written, as plain lines.
 */
export function mountLive(stdout: NodeJS.WriteStream = process.stdout): LiveView {
  if (!stdout.isTTY) {
    return {
      update: () => {},
      finish: async (node) => {
        stdout.write(`${renderToString(node, { columns: stdout.columns || 120 }).trimEnd()}\n`);
      },
    };
  }
  let instance: ReturnType<typeof render> | undefined;
  return {
    update: (node) => {
      if (instance) instance.rerender(node);
      else instance = render(node, { stdout, patchConsole: false, exitOnCtrlC: true });
    },
    finish: async (node) => {
      if (instance) instance.rerender(node);
      else instance = render(node, { stdout, patchConsole: false, exitOnCtrlC: true });
      instance.unmount();
      await instance.waitUntilExit();
    },
  };
}

/** A static frame (for `jobs get`): the component drawn once, as a string. */
export function renderFrame(node: ReactElement, columns = 120): string {
  return renderToString(node, { columns }).trimEnd();
}

/** A full-screen interactive view (`top`): drawn on the terminal's alternate screen, restored on close. */
export interface FullScreenView {
  update(node: ReactElement): void;
  close(): Promise<void>;
}

const ENTER_ALTERNATE_SCREEN = "\u001b[?1049h\u001b[H";
const LEAVE_ALTERNATE_SCREEN = "\u001b[?1049l";

export function mountFullScreen(stdout: NodeJS.WriteStream = process.stdout): FullScreenView {
  let instance: ReturnType<typeof render> | undefined;
  stdout.write(ENTER_ALTERNATE_SCREEN);
  return {
    update: (node) => {
      if (instance) instance.rerender(node);
      else instance = render(node, { stdout, patchConsole: false, exitOnCtrlC: false });
    },
    close: async () => {
      if (instance) {
        instance.unmount();
        await instance.waitUntilExit();
      }
      stdout.write(LEAVE_ALTERNATE_SCREEN);
    },
  };
}
