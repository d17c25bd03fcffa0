import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import { freePort, livePids, loopbackEnv, run, spawnTracked, waitFor } from "../helpers/processes.js";

describe("helpers/processes", () => {
  it("freePort returns a port that can be bound on 127.0.0.1", async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
    const server = createServer().listen(port, "127.0.0.1");
    await once(server, "listening");
    server.close();
  });

  it("waitFor returns the first truthy value", async () => {
    let n = 0;
    const v = await waitFor(() => (++n >= 3 ? `done after ${n}` : undefined), { what: "n", intervalMs: 1 });
    assert.equal(v, "done after 3");
  });

  it("waitFor names what it waited for and quotes the last error on timeout", async () => {
    const started = Date.now();
    await assert.rejects(
      waitFor(
        () => {
          throw new Error("not yet");
        },
        { what: "the moon", timeoutMs: 100, intervalMs: 10 },
      ),
      /timed out waiting for the moon .*last error: not yet/,
    );
    assert.ok(Date.now() - started < 1000);
  });

  it("waitFor is bounded in attempts too", async () => {
    let calls = 0;
    await assert.rejects(
      waitFor(
        () => {
          calls++;
          return false;
        },
        { what: "x", timeoutMs: 60_000, intervalMs: 1, maxAttempts: 5 },
      ),
      /5 attempts/,
    );
    assert.equal(calls, 5);
  });

  it("run resolves with the exit status and output, and rejects on timeout", async () => {
    const ok = await run(process.execPath, ["-e", "console.log('out'); console.error('err'); process.exit(3)"]);
    assert.equal(ok.code, 3);
    assert.equal(ok.stdout, "out\n");
    assert.equal(ok.stderr, "err\n");
    const started = Date.now();
    await assert.rejects(
      run(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { timeoutMs: 200 }),
      /timed out after 200 ms/,
    );
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(livePids(), []);
  });

  it("run streams stdout to onStdout and feeds input", async () => {
    const chunks: Buffer[] = [];
    const r = await run(process.execPath, ["-e", "process.stdin.pipe(process.stdout)"], {
      input: "hello",
      onStdout: (c) => chunks.push(c),
    });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "");
    assert.equal(Buffer.concat(chunks).toString(), "hello");
  });

  it("spawnTracked captures a bounded output tail and stop() escalates to SIGKILL", async () => {
    const p = spawnTracked(
      process.execPath,
      [
        "-e",
        "process.on('SIGTERM', () => {}); console.log('x'.repeat(5000)); console.log('ready'); setInterval(() => {}, 1000)",
      ],
      { outputLimit: 100 },
    );
    assert.ok(livePids().includes(p.pid));
    await waitFor(() => p.output().includes("ready"), { what: "ready", timeoutMs: 10_000 });
    assert.ok(p.output().length <= 100);
    const status = await p.stop("SIGTERM", 200);
    assert.equal(status.signal, "SIGKILL");
    assert.ok(!p.isRunning());
    assert.ok(!livePids().includes(p.pid));
    assert.deepEqual(await p.stop(), status, "stop() is idempotent");
  });

  it("spawnTracked delivers whole lines to onLine", async () => {
    const lines: string[] = [];
    const p = spawnTracked(
      process.execPath,
      ["-e", "process.stdout.write('ab'); setTimeout(() => process.stdout.write('c\\nde\\n'), 50)"],
      { onLine: (l) => lines.push(l) },
    );
    await p.exited;
    assert.deepEqual(lines, ["abc", "de"]);
  });

  it("loopbackEnv drops proxy settings", () => {
    const saved = process.env.HTTPS_PROXY;
    const savedNo = process.env.NO_PROXY;
    process.env.HTTPS_PROXY = "http://proxy.invalid:3128";
    process.env.NO_PROXY = "example.invalid";
    try {
      const env = loopbackEnv({ EXTRA: "1" });
      assert.equal(env.HTTPS_PROXY, undefined);
      assert.equal(env.NO_PROXY, undefined);
      assert.equal(env.EXTRA, "1");
      assert.equal(env.PATH, process.env.PATH);
    } finally {
      if (saved === undefined) delete process.env.HTTPS_PROXY;
      else process.env.HTTPS_PROXY = saved;
      if (savedNo === undefined) delete process.env.NO_PROXY;
      else process.env.NO_PROXY = savedNo;
    }
  });
});
