import assert from "node:assert/strict";
import { type Job, JobProgress, mountLive, PreheatProgress } from "@d7y/kubectl-plugin";
import { render } from "ink-testing-library";
import { createElement } from "react";

// biome-ignore lint/suspicious/noControlCharactersInRegex: strips colour codes
const ANSI = /\u001b\[[0-9;]*m/g;
const plain = (frame: string | undefined) => (frame ?? "").replace(ANSI, "");

const DIGEST_A = `sha256:${"a".repeat(64)}`;
const DIGEST_B = `sha256:${"b".repeat(64)}`;

function job(overrides: Partial<Job>): Job {
  return {
    id: 7,
    type: "preheat",
    state: "PENDING",
    args: { url: "http://127.0.0.1:5000/v2/d7y/app/manifests/v1", platform: "linux/amd64" },
    result: null,
    created_at: "2026-01-01T00:00:00.000Z",
    ...overrides,
  };
}

describe("kubectl d7y: PreheatProgress (Ink)", () => {
  it("a pending job is one header line with its state and platform", () => {
    const { lastFrame, unmount } = render(
      createElement(JobProgress, { image: "127.0.0.1:5000/d7y/app:v1", job: job({}) }),
    );
    assert.equal(plain(lastFrame()).trimEnd(), "job 7  127.0.0.1:5000/d7y/app:v1  PENDING  linux/amd64");
    unmount();
  });

  it("a running job has one row per layer and host, and the frames follow the job's progress", () => {
    const image = "127.0.0.1:5000/d7y/app:v1";
    const started = job({
      state: "STARTED",
      result: {
        platform: "linux/amd64",
        layers: [
          {
            url: "u1",
            digest: DIGEST_A,
            size: 16 * 1024 * 1024,
            hosts: [{ hostname: "seed-1", ip: "10.0.0.1", state: "SUCCESS", cost_ms: 120 }],
          },
          {
            url: "u2",
            digest: DIGEST_B,
            size: 300 * 1024,
            hosts: [{ hostname: "seed-1", ip: "10.0.0.1", state: "RUNNING" }],
          },
        ],
      },
    });
    const { lastFrame, rerender, frames, unmount } = render(
      createElement(PreheatProgress, { items: [{ image, job: started }] }),
    );
    const lines = plain(lastFrame())
      .split("\n")
      .map((line) => line.trimEnd());
    assert.deepEqual(lines, [
      "job 7  127.0.0.1:5000/d7y/app:v1  STARTED  linux/amd64  1/2 downloads",
      "  LAYER                SIZE       HOST                        STATE     TIME",
      "  sha256:aaaaaaaaaaaa  16.0 MiB   seed-1 (10.0.0.1)           SUCCESS   120 ms",
      "  sha256:bbbbbbbbbbbb  300.0 KiB  seed-1 (10.0.0.1)           RUNNING",
    ]);

    const failed = job({
      state: "FAILURE",
      result: {
        ...started.result,
        layers: started.result?.layers?.map((layer) => ({
          ...layer,
          hosts: layer.hosts.map((h) => ({ ...h, state: layer.digest === DIGEST_B ? "FAILURE" : h.state })),
        })),
        error: "download sha256:bbbb on seed-1: connection reset",
      },
    });
    rerender(createElement(PreheatProgress, { items: [{ image, job: failed }] }));
    const last = plain(lastFrame());
    assert.match(last, /^job 7 {2}127\.0\.0\.1:5000\/d7y\/app:v1 {2}FAILURE {2}linux\/amd64 {2}2\/2 downloads/);
    assert.match(last, /sha256:bbbbbbbbbbbb .* FAILURE/);
    assert.match(last, /\n {2}download sha256:bbbb on seed-1: connection reset/);
    assert.ok(frames.length >= 2, "a frame per render");
    unmount();
  });

  it("a layer whose hosts are not chosen yet is shown as pending", () => {
    const { lastFrame, unmount } = render(
      createElement(JobProgress, {
        image: "r/x:1",
        job: job({ state: "STARTED", result: { layers: [{ url: "u", digest: DIGEST_A, size: 10, hosts: [] }] } }),
      }),
    );
    assert.match(plain(lastFrame()), /sha256:aaaaaaaaaaaa {2}10 B {7}- +PENDING/);
    unmount();
  });

  it("two images are two blocks separated by a blank line", () => {
    const { lastFrame, unmount } = render(
      createElement(PreheatProgress, {
        items: [
          { image: "r.example/a:1", job: job({ id: 1 }) },
          { image: "r.example/b:1", job: job({ id: 2, state: "SUCCESS" }) },
        ],
      }),
    );
    assert.deepEqual(
      plain(lastFrame())
        .split("\n")
        .map((line) => line.trimEnd()),
      ["job 1  r.example/a:1  PENDING  linux/amd64", "", "job 2  r.example/b:1  SUCCESS  linux/amd64"],
    );
    unmount();
  });

  it("mountLive on a pipe writes only the final frame, as plain lines", async () => {
    const written: string[] = [];
    const pipe = { isTTY: false, columns: 0, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const view = mountLive(pipe);
    view.update(createElement(JobProgress, { image: "r.example/a:1", job: job({ state: "STARTED" }) }));
    assert.deepEqual(written, []);
    await view.finish(createElement(JobProgress, { image: "r.example/a:1", job: job({ state: "SUCCESS" }) }));
    assert.deepEqual(written.map(plain), ["job 7  r.example/a:1  SUCCESS  linux/amd64\n"]);
  });
});
