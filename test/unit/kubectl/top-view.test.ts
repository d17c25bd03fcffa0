import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { TopApp, TopView, topSnapshot } from "@d7y/kubectl-plugin";
import { HostSchema, HostType } from "@d7y/proto/common/v1";
import { ClusterStatsSchema, HostStatsSchema, TaskInFlightSchema } from "@d7y/proto/scheduler/v1";
import { render } from "ink-testing-library";
import { createElement } from "react";

// biome-ignore lint/suspicious/noControlCharactersInRegex: strips colour codes
const ANSI = /\u001b\[[0-9;]*m/g;
const lines = (frame: string | undefined) => (frame ?? "").replace(ANSI, "").split("\n");
const MiB = 1024 * 1024;

function host(id: string, seed: boolean, fromPeers: number, fromSource: number, uploaded: number) {
  return create(HostStatsSchema, {
    host: create(HostSchema, { id, hostname: id, ip: "10.0.0.1" }),
    type: seed ? HostType.SEED : HostType.NORMAL,
    bytesFromPeers: BigInt(fromPeers),
    bytesFromSource: BigInt(fromSource),
    bytesUploaded: BigInt(uploaded),
    diskUsedBytes: BigInt(512 * MiB),
    diskQuotaBytes: BigInt(1024 * MiB),
  });
}

function stats(timeMs: number, scale: number) {
  return create(ClusterStatsSchema, {
    timeMs: BigInt(timeMs),
    hosts: [
      host("seed-peer-1", true, 0, 64 * MiB * scale, 96 * MiB * scale),
      host("node-alpha", false, 64 * MiB * scale, 0, 32 * MiB * scale),
      host("node-bravo", false, 32 * MiB * scale, 0, 0),
    ],
    tasksInFlight: [
      create(TaskInFlightSchema, {
        taskId: "t1",
        url: `http://127.0.0.1:5000/v2/d7y/big/blobs/sha256:${"c".repeat(64)}`,
        contentLength: BigInt(64 * MiB),
        peersRunning: 2,
        finishedPiecesMax: 8,
        pieceCount: 16,
      }),
    ],
    bytesFromPeers: BigInt(96 * MiB * scale),
    bytesFromSource: BigInt(64 * MiB * scale),
  });
}

/** Two snapshots a second apart: every counter doubled. */
const SNAPSHOT = topSnapshot(stats(2_000, 2), stats(1_000, 1));
const tick = () => new Promise((resolve) => setTimeout(resolve, 30));
const hostOrder = (frame: string[]) =>
  frame.flatMap((line) => (/^(seed-peer-1|node-alpha|node-bravo)/.exec(line)?.[1] ? [line.split(" ")[0]] : []));

describe("kubectl d7y top: TopView and TopApp (Ink)", () => {
  it("computes rates from successive snapshots and the P2P ratio", () => {
    const alpha = SNAPSHOT.hosts.find((h) => h.id === "node-alpha");
    assert.equal(alpha?.downBytesPerSec, 64 * MiB);
    assert.equal(alpha?.upBytesPerSec, 32 * MiB);
    assert.equal(SNAPSHOT.p2pRatio, 0.6);
  });

  it("fits 80x24: no line wider than 80, at most 23 lines, hosts and tasks shown", () => {
    const { lastFrame, unmount } = render(
      createElement(TopView, { snapshot: SNAPSHOT, sort: "down", filter: "", columns: 80, rows: 24 }),
    );
    const frame = lines(lastFrame());
    unmount();
    assert.ok(frame.length <= 23, `${frame.length} lines`);
    for (const line of frame) assert.ok(line.length <= 80, `too wide (${line.length}): ${line}`);
    assert.match(frame[0] ?? "", /P2P 60\.0%/);
    const alpha = frame.find((line) => line.startsWith("node-alpha")) ?? "";
    assert.match(alpha, /normal\s+67\.1\s+33\.6\s+128\.0M\s+0B\s+512\.0M 50%/);
    assert.ok(frame.some((line) => /^seed-peer-1\s+seed/.test(line)));
    assert.ok(frame.some((line) => /d7y\/big@sha256:cccccccccccc\s+2 \[#+\.+\]\s+50%\s+64\.0M/.test(line)));
  });

  it("cuts rows to the terminal's height and columns to a narrow width", () => {
    const many = {
      ...SNAPSHOT,
      hosts: Array.from({ length: 40 }, (_, i) => ({ ...SNAPSHOT.hosts[1]!, id: `h${i}`, hostname: `h${i}` })),
    };
    const { lastFrame, unmount } = render(
      createElement(TopView, { snapshot: many, sort: "host", filter: "", columns: 50, rows: 12 }),
    );
    const frame = lines(lastFrame());
    unmount();
    assert.ok(frame.length <= 11, `${frame.length} lines`);
    for (const line of frame) assert.ok(line.length <= 50, `too wide (${line.length}): ${line}`);
    assert.ok(frame.some((line) => /… \d+ more/.test(line)));
  });

  it("s cycles the sort column; / filters (Enter applies, Esc clears); q quits", async () => {
    let quit = 0;
    const { lastFrame, stdin, unmount } = render(
      createElement(TopApp, { snapshot: SNAPSHOT, onQuit: () => quit++, columns: 80, rows: 24 }),
    );
    await tick();
    // Sorted by download rate: seed (128 MiB/s from the origin) and alpha tie, then bravo.
    assert.deepEqual(hostOrder(lines(lastFrame())), ["node-alpha", "seed-peer-1", "node-bravo"]);
    stdin.write("s"); // up
    await tick();
    assert.deepEqual(hostOrder(lines(lastFrame())), ["seed-peer-1", "node-alpha", "node-bravo"]);
    assert.match(lines(lastFrame())[1] ?? "", /UP MB\/s\*/);
    for (const _ of ["peers", "origin", "cache", "host"]) {
      stdin.write("s");
      await tick();
    }
    assert.deepEqual(hostOrder(lines(lastFrame())), ["node-alpha", "node-bravo", "seed-peer-1"]);

    stdin.write("/");
    await tick();
    for (const char of "brav") stdin.write(char);
    await tick();
    assert.match(lines(lastFrame()).at(-1) ?? "", /filter: brav_/);
    stdin.write("\r");
    await tick();
    assert.deepEqual(hostOrder(lines(lastFrame())), ["node-bravo"]);
    assert.match(lines(lastFrame()).at(-1) ?? "", /\[brav\]/);
    stdin.write("/");
    await tick();
    stdin.write("\u001b");
    await tick();
    assert.equal(hostOrder(lines(lastFrame())).length, 3);

    stdin.write("q");
    await tick();
    assert.equal(quit, 1);
    unmount();
  });
});
