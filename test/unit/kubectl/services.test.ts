import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  formatOutput,
  formatTable,
  ManagerClient,
  ManagerHttpError,
  ManagerUnreachableError,
  manifestUrl,
  parseDuration,
  parseImageReference,
  UserError,
} from "@d7y/kubectl-plugin";
import { parse as parseYaml } from "yaml";

interface Seen {
  method: string;
  url: string;
  body: string;
}

/** A fake manager on loopback: `handler` answers, every request is recorded. */
async function fakeManager(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method ?? "", url: req.url ?? "", body });
    handler(req, res, body);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

describe("kubectl d7y: services", () => {
  describe("parseImageReference", () => {
    it("host/repo:tag, host/repo@digest and host/repo become manifest URLs", () => {
      assert.equal(manifestUrl(parseImageReference("ghcr.io/org/app:1.0")), "https://ghcr.io/v2/org/app/manifests/1.0");
      assert.equal(
        manifestUrl(parseImageReference("127.0.0.1:5000/d7y/app:v1", { plainHttp: true })),
        "http://127.0.0.1:5000/v2/d7y/app/manifests/v1",
      );
      const digest = `sha256:${"c".repeat(64)}`;
      assert.equal(
        manifestUrl(parseImageReference(`localhost:5000/app@${digest}`)),
        `https://localhost:5000/v2/app/manifests/${digest}`,
      );
      assert.equal(manifestUrl(parseImageReference("r.example/a/b")), "https://r.example/v2/a/b/manifests/latest");
    });

    for (const bad of [
      "alpine",
      "",
      "r.example/App:1",
      "r.example/app:",
      "r.example/app@sha256:xyz",
      "https://r/v2/a/manifests/1",
      "bad host/app",
    ]) {
      it(`rejects ${JSON.stringify(bad)} with one line`, () => {
        assert.throws(
          () => parseImageReference(bad),
          (error: unknown) =>
            error instanceof UserError &&
            error.message.startsWith("invalid image reference") &&
            !error.message.includes("\n"),
        );
      });
    }
  });

  it("parseDuration", () => {
    assert.equal(parseDuration("30m"), 1_800_000);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("90"), 90_000);
    assert.throws(() => parseDuration("soon", "--timeout"), /invalid --timeout "soon"/);
  });

  it("formatTable aligns columns; formatOutput gives JSON and YAML of the data", () => {
    assert.equal(
      formatTable(
        ["id", "state"],
        [
          [1, "SUCCESS"],
          [12, "PENDING"],
        ],
      ),
      "ID  STATE\n1   SUCCESS\n12  PENDING",
    );
    const data = [{ id: 1 }];
    assert.deepEqual(JSON.parse(formatOutput("json", data, () => "")), data);
    assert.deepEqual(parseYaml(formatOutput("yaml", data, () => "")), data);
    assert.equal(
      formatOutput("table", data, () => "T"),
      "T\n",
    );
  });

  describe("ManagerClient against a fake manager", () => {
    let fake: Awaited<ReturnType<typeof fakeManager>>;
    const job = { id: 3, type: "preheat", state: "PENDING", args: { url: "u" }, created_at: "t" };

    before(async () => {
      fake = await fakeManager((req, res, body) => {
        if (req.method === "POST" && req.url === "/api/v1/jobs") {
          const parsed = JSON.parse(body) as { args: { url: string } };
          if (parsed.args.url.includes("bad")) return json(res, 400, { message: "args.url: invalid" });
          return json(res, 200, job);
        }
        if (req.url === "/api/v1/jobs/3") return json(res, 200, { ...job, state: "SUCCESS" });
        if (req.url?.startsWith("/api/v1/jobs/")) return json(res, 404, { message: "job not found" });
        if (req.url?.startsWith("/api/v1/jobs?")) return json(res, 200, [job]);
        if (req.url?.startsWith("/api/v1/schedulers"))
          return json(res, 200, [{ id: 1, hostname: "s", state: "active" }]);
        if (req.url?.startsWith("/api/v1/seed-peers")) return json(res, 200, []);
        if (req.url === "/healthy") {
          res.end("OK");
          return;
        }
        res.writeHead(500);
        res.end("boom\nstack");
      });
    });
    after(() => {
      fake.server.closeAllConnections();
      fake.server.close();
    });

    it("creates a preheat job with Dragonfly's body", async () => {
      const client = new ManagerClient(`${fake.url}/`);
      const created = await client.createPreheatJob({
        url: "http://r/v2/a/manifests/1",
        platform: "linux/arm64",
        scope: "all_seed_peers",
        username: "u",
        password: "p",
        timeout: "30m",
      });
      assert.equal(created.id, 3);
      const request = fake.seen.at(-1);
      assert.equal(request?.method, "POST");
      assert.deepEqual(JSON.parse(request?.body ?? ""), {
        type: "preheat",
        args: {
          type: "image",
          url: "http://r/v2/a/manifests/1",
          platform: "linux/arm64",
          scope: "all_seed_peers",
          username: "u",
          password: "p",
          timeout: "30m",
        },
      });
    });

    it("gets and lists jobs, schedulers, seed peers and health", async () => {
      const client = new ManagerClient(fake.url);
      assert.equal((await client.getJob(3)).state, "SUCCESS");
      assert.deepEqual(
        (await client.listJobs({ limit: 5, state: "PENDING" })).map((j) => j.id),
        [3],
      );
      assert.match(fake.seen.at(-1)?.url ?? "", /^\/api\/v1\/jobs\?page=1&per_page=5&state=PENDING$/);
      assert.equal((await client.listSchedulers()).length, 1);
      assert.deepEqual(await client.listSeedPeers(), []);
      assert.equal(await client.healthy(), true);
    });

    it("a 404 job is 'unknown job N'; a 400 carries the manager's message; all on one line", async () => {
      const client = new ManagerClient(fake.url);
      await assert.rejects(client.getJob(99), (e: unknown) => e instanceof UserError && e.message === "unknown job 99");
      await assert.rejects(
        client.createPreheatJob({ url: "http://bad/v2/a/manifests/1" }),
        (e: unknown) =>
          e instanceof ManagerHttpError &&
          e.status === 400 &&
          e.message === "manager: 400 args.url: invalid (POST /api/v1/jobs)",
      );
    });

    it("an unreachable manager is a ManagerUnreachableError naming the URL", async () => {
      const closed = await fakeManager(() => {});
      closed.server.close();
      await once(closed.server, "close");
      await assert.rejects(
        new ManagerClient(closed.url).listJobs(),
        (e: unknown) =>
          e instanceof ManagerUnreachableError &&
          e.message.startsWith(`cannot reach the manager at ${closed.url}: `) &&
          e.message.includes("ECONNREFUSED"),
      );
    });

    it("a URL that is not http(s) is refused up front", () => {
      assert.throws(() => new ManagerClient("ftp://x"), /invalid --manager URL/);
      assert.throws(() => new ManagerClient("nonsense"), /invalid --manager URL/);
    });
  });
});
