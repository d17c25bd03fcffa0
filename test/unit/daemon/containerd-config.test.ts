import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "@d7y/config";
import { ensureConfigPath, injectConfigPath, parseContainerdConfig, runContainerdConfig } from "@d7y/daemon";

const V2 = '[plugins."io.containerd.grpc.v1.cri".registry]';
const V3 = '[plugins."io.containerd.cri.v1.images".registry]';
const CERTS = "/etc/containerd/certs.d";

describe("containerd config.toml: finding the registry config_path", () => {
  it("reads config_path from a version 2 config", () => {
    const config = parseContainerdConfig(`version = 2\n${V2}\n  config_path = "/etc/containerd/certs.d"\n`);
    assert.equal(config.version, 2);
    assert.equal(config.configPath, CERTS);
    assert.deepEqual(config.conflicts, []);
  });

  it("reads config_path from a version 3 config", () => {
    const config = parseContainerdConfig(`version = 3\n${V3}\n  config_path = "/etc/containerd/certs.d"\n`);
    assert.equal(config.version, 3);
    assert.equal(config.configPath, CERTS);
    // The v2 table means nothing to a v3 config.
    assert.equal(parseContainerdConfig(`version = 3\n${V2}\n  config_path = "/x"\n`).configPath, undefined);
  });

  it("uses the first of several :-separated paths", () => {
    const config = parseContainerdConfig(`version = 2\n${V2}\n  config_path = "/a/certs.d:/b/certs.d"\n`);
    assert.equal(config.configPath, "/a/certs.d");
    assert.deepEqual(config.configPaths, ["/a/certs.d", "/b/certs.d"]);
  });

  it("reports no config_path when the table, or the key, is missing, or the value is empty", () => {
    assert.equal(parseContainerdConfig('version = 2\n[grpc]\n  address = "/run/c.sock"\n').configPath, undefined);
    assert.equal(parseContainerdConfig(`version = 2\n${V2}\n`).configPath, undefined);
    assert.equal(parseContainerdConfig(`version = 2\n${V2}\n  config_path = ""\n`).configPath, undefined);
  });

  it("treats a config without `version` as version 1, as containerd does", () => {
    const config = parseContainerdConfig('[plugins.cri.registry]\n  config_path = "/v1/certs.d"\n');
    assert.equal(config.version, 1);
    assert.equal(config.configPath, "/v1/certs.d");
    // containerd 1.6 ignores the v2 table in an unversioned file: say so rather than trust it.
    assert.throws(
      () => parseContainerdConfig(`${V2}\n  config_path = "/x"\n`, "c.toml"),
      (e: Error) => e instanceof ConfigError && /no `version = 2` line/.test(e.message) && !e.message.includes("\n"),
    );
    assert.throws(() => parseContainerdConfig("version = 4\n"), /containerd config versions are 1, 2 and 3/);
  });

  it("refuses invalid TOML with one line", () => {
    assert.throws(
      () => parseContainerdConfig('version = 2\n[plugins."io.containerd.grpc.v1.cri"\n', "/etc/containerd/config.toml"),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message.startsWith("/etc/containerd/config.toml is not valid TOML: ") &&
        !e.message.includes("\n"),
    );
  });

  it("finds mirrors and configs.tls, which containerd refuses next to config_path", () => {
    const mirrors = parseContainerdConfig(
      `version = 2\n${V2.slice(0, -1)}.mirrors."docker.io"]\n  endpoint = ["https://m.example"]\n`,
    );
    assert.deepEqual(mirrors.conflicts, ['plugins."io.containerd.grpc.v1.cri".registry.mirrors']);
    const tls = parseContainerdConfig(
      `version = 2\n${V2.slice(0, -1)}.configs."r.example".tls]\n  insecure_skip_verify = true\n`,
    );
    assert.deepEqual(tls.conflicts, ['plugins."io.containerd.grpc.v1.cri".registry.configs."r.example".tls']);
    // An empty mirrors table and auth configs are accepted by containerd.
    const fine = parseContainerdConfig(
      `version = 2\n${V2.slice(0, -1)}.mirrors]\n${V2.slice(0, -1)}.configs."r.example".auth]\n  username = "u"\n`,
    );
    assert.deepEqual(fine.conflicts, []);
  });
});

describe("containerd config.toml: injecting config_path", () => {
  it("adds a new table at the end when the registry table is missing, keeping every other byte", () => {
    const text = [
      "# node config, managed by hand",
      "version = 2",
      "",
      "[grpc]",
      '  address = "/run/containerd/containerd.sock" # the socket',
      "",
      '[plugins."io.containerd.grpc.v1.cri".containerd]',
      '  snapshotter = "overlayfs"',
    ].join("\n");
    const out = injectConfigPath(text, 2, CERTS);
    assert.equal(out, `${text}\n\n${V2}\n  config_path = "/etc/containerd/certs.d"\n`);
    assert.equal(parseContainerdConfig(out).configPath, CERTS);
  });

  it("inserts the key right after the header when the table exists without it", () => {
    const text = `version = 2\n\n${V2} # registries\n    [${V2.slice(1, -1)}.auths]\n\n[debug]\n  level = "info"\n`;
    const out = injectConfigPath(text, 2, CERTS);
    assert.equal(
      out,
      `version = 2\n\n${V2} # registries\n  config_path = "/etc/containerd/certs.d"\n    [${V2.slice(1, -1)}.auths]\n\n[debug]\n  level = "info"\n`,
    );
  });

  it("matches the indentation of the table's keys", () => {
    const text = `version = 2\n  ${V2}\n      some_key = 1\n`;
    assert.equal(
      injectConfigPath(text, 2, CERTS),
      `version = 2\n  ${V2}\n      config_path = "/etc/containerd/certs.d"\n      some_key = 1\n`,
    );
  });

  it('fills in config_path = "" as `containerd config default` writes it', () => {
    const text = `version = 2\n${V2}\n      config_path = "" # fill me\n\n${V2.slice(0, -1)}.auths]\n`;
    assert.equal(
      injectConfigPath(text, 2, CERTS),
      `version = 2\n${V2}\n      config_path = "/etc/containerd/certs.d" # fill me\n\n${V2.slice(0, -1)}.auths]\n`,
    );
  });

  it("writes the version 3 table for a version 3 config", () => {
    const out = injectConfigPath("version = 3\n", 3, "/certs");
    assert.equal(out, `version = 3\n\n${V3}\n  config_path = "/certs"\n`);
  });

  it("adds a dotted key when the parent table defines registry with dotted keys", () => {
    const text = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  registry.configs."r".auth.username = "u"\n';
    const out = injectConfigPath(text, 2, CERTS);
    assert.equal(
      out,
      'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  registry.config_path = "/etc/containerd/certs.d"\n  registry.configs."r".auth.username = "u"\n',
    );
  });

  it("refuses a registry table it cannot edit safely (an inline table)", () => {
    const text = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  registry = { configs = {} }\n';
    assert.throws(() => injectConfigPath(text, 2, CERTS, "c.toml"), /c\.toml defines .* cannot edit safely/);
  });

  it("keeps CRLF line endings", () => {
    const out = injectConfigPath(`version = 2\r\n${V2}\r\n  x = 1\r\n`, 2, CERTS);
    assert.equal(out, `version = 2\r\n${V2}\r\n  config_path = "/etc/containerd/certs.d"\r\n  x = 1\r\n`);
  });
});

describe("containerd config.toml: the file on disk", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "d7y-ctdcfg-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("injects once, keeps the mode and comments, and changes nothing the second time", async () => {
    const file = join(dir, "config.toml");
    const text = '# keep me\nversion = 2\n[grpc]\n  address = "/run/c.sock" # and me\n';
    await writeFile(file, text);
    await chmod(file, 0o600);
    const first = await ensureConfigPath(file, { inject: true, hostsDir: "/certs" });
    assert.equal(first.action, "injected");
    assert.equal(first.hostsDir, "/certs");
    const after = await readFile(file, "utf8");
    assert.ok(after.startsWith(text), "the original bytes come first, unchanged");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const before = await stat(file);
    const second = await ensureConfigPath(file, { inject: true, hostsDir: "/other" });
    assert.deepEqual(second, { hostsDir: "/certs", action: "found", version: 2, criDisabled: false, imports: [] });
    assert.equal(await readFile(file, "utf8"), after);
    assert.equal((await stat(file)).ino, before.ino, "not rewritten");
    assert.deepEqual(await readdir(dir), ["config.toml"], "no temp files left");
  });

  it("creates a minimal version 2 config when the file is missing", async () => {
    const file = join(dir, "etc", "config.toml");
    const result = await ensureConfigPath(file, { inject: true, hostsDir: "/certs" });
    assert.equal(result.action, "created");
    assert.equal(await readFile(file, "utf8"), `version = 2\n\n${V2}\n  config_path = "/certs"\n`);
  });

  it("never replaces a config.toml symlink it cannot follow (a link out of the mounted dir)", async () => {
    const file = join(dir, "config.toml");
    await symlink("/nonexistent-d7y-test/containerd/config.toml", file);
    await assert.rejects(
      ensureConfigPath(file, { inject: true, hostsDir: "/certs" }),
      (e: Error) => e instanceof ConfigError && /cannot read .*config\.toml \(a symlink/.test(e.message),
    );
    assert.equal(await readlink(file), "/nonexistent-d7y-test/containerd/config.toml", "the link is untouched");
  });

  it("without inject: a clear error when config_path is missing, file untouched", async () => {
    const file = join(dir, "config.toml");
    await writeFile(file, "version = 2\n");
    await assert.rejects(
      ensureConfigPath(file, { inject: false }),
      (e: Error) => e instanceof ConfigError && /sets no registry config_path .* --inject-config-path/.test(e.message),
    );
    await assert.rejects(ensureConfigPath(join(dir, "none.toml"), { inject: false }), /does not exist/);
    assert.equal(await readFile(file, "utf8"), "version = 2\n");
  });

  it("refuses invalid TOML and mirrors without touching the file", async () => {
    const bad = join(dir, "bad.toml");
    await writeFile(bad, "version = 2\n[grpc\n");
    await assert.rejects(ensureConfigPath(bad, { inject: true }), /is not valid TOML/);
    assert.equal(await readFile(bad, "utf8"), "version = 2\n[grpc\n");
    const mirrors = join(dir, "mirrors.toml");
    const text = `version = 2\n${V2.slice(0, -1)}.mirrors."docker.io"]\n  endpoint = ["https://m.example"]\n`;
    await writeFile(mirrors, text);
    await assert.rejects(
      ensureConfigPath(mirrors, { inject: true }),
      (e: Error) => e instanceof ConfigError && /refuses together with config_path/.test(e.message),
    );
    assert.equal(await readFile(mirrors, "utf8"), text);
  });

  it("keeps a copy of a hosts.toml it did not write, once", async () => {
    const certs = join(dir, "certs.d");
    const mine = join(certs, "ghcr.io", "hosts.toml");
    await mkdir(join(certs, "ghcr.io"), { recursive: true });
    await writeFile(mine, 'server = "https://ghcr.io"\n[host."https://my-own-mirror"]\n');
    const lines: string[] = [];
    const options = { hostsDir: certs, mirror: "http://127.0.0.1:4001", registry: ["https://ghcr.io"] };
    await runContainerdConfig(options, (l) => lines.push(l));
    assert.equal(
      await readFile(`${mine}.d7y-backup`, "utf8"),
      'server = "https://ghcr.io"\n[host."https://my-own-mirror"]\n',
    );
    assert.ok(lines.some((l) => l.startsWith(`note: ${mine} was not written by d7y`)));
    assert.match(await readFile(mine, "utf8"), /^# Written by d7y-daemon/);
    const again: string[] = [];
    await runContainerdConfig(options, (l) => again.push(l));
    assert.ok(!again.some((l) => l.startsWith("note:")), "our own file is not backed up");
  });

  it("the subcommand warns when it adds config_path to a config that imports others", async () => {
    const file = join(dir, "config.toml");
    await writeFile(file, 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n');
    const lines: string[] = [];
    await runContainerdConfig(
      {
        containerdConfig: file,
        injectConfigPath: true,
        hostsDir: join(dir, "certs.d"),
        mirror: "http://127.0.0.1:4001",
        registry: ["https://ghcr.io"],
      },
      (l) => lines.push(l),
    );
    assert.ok(
      lines.some((l) => /^warning: .* imports \/etc\/containerd\/conf\.d\/\*\.toml; .* wins/.test(l)),
      lines.join("\n"),
    );
  });

  it("the subcommand: config_path wins over --hosts-dir, with a note; idempotent hosts.toml", async () => {
    const file = join(dir, "config.toml");
    const certs = join(dir, "certs.d");
    await writeFile(file, `version = 2\n${V2}\n  config_path = ${JSON.stringify(`${certs}:/elsewhere`)}\n`);
    const lines: string[] = [];
    const options = {
      containerdConfig: file,
      hostsDir: join(dir, "ignored"),
      mirror: "http://127.0.0.1:4001",
      registry: ["https://ghcr.io"],
    };
    const written = await runContainerdConfig(options, (l) => lines.push(l));
    assert.deepEqual(written, [join(certs, "ghcr.io", "hosts.toml")]);
    assert.ok(lines.some((l) => l.startsWith("note: writing hosts.toml to ")));
    const content = await readFile(written[0]!, "utf8");
    await runContainerdConfig(options, () => undefined);
    assert.equal(await readFile(written[0]!, "utf8"), content);
    await assert.rejects(
      runContainerdConfig({ mirror: "http://127.0.0.1:4001", registry: ["https://ghcr.io"] }),
      /give --hosts-dir or --containerd-config/,
    );
    await assert.rejects(
      runContainerdConfig({
        injectConfigPath: true,
        hostsDir: certs,
        mirror: "http://x",
        registry: ["https://ghcr.io"],
      }),
      /--inject-config-path needs --containerd-config/,
    );
  });
});
