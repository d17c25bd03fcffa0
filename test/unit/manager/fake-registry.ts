import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRegistryAuth {
  scheme: "bearer" | "basic";
  username: string;
  password: string;
}

export interface RecordedRegistryRequest {
  method: string;
  path: string;
  authorization?: string;
}

export interface PushedImage {
  manifestDigest: string;
  /** Config first, then the layers. */
  blobDigests: string[];
}

const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

const UNAUTHORIZED = JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] });

function digestOf(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/**
 * A tiny in-process OCI registry on loopback: manifests, indexes and blobs in memory; anonymous, Basic, or
 * Bearer auth with a token realm at /token (which checks Basic credentials). Records every request.
 */
export class FakeRegistry {
  readonly requests: RecordedRegistryRequest[] = [];
  private readonly manifests = new Map<string, { mediaType: string; body: Buffer }>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly tokens = new Set<string>();
  private tokenCount = 0;
  private server!: http.Server;
  url = "";
  host = "";

  constructor(readonly auth?: FakeRegistryAuth) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.url = `http://${this.host}`;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  manifestUrl(repository: string, reference: string): string {
    return `${this.url}/v2/${repository}/manifests/${reference}`;
  }

  blobUrl(repository: string, digest: string): string {
    return `${this.url}/v2/${repository}/blobs/${digest}`;
  }

  /** Pushes an image manifest with a config and `layers` random layers; tagged when `tag` is given. */
  pushImage(repository: string, tag: string | undefined, layers: number): PushedImage {
    const config = Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", nonce: randomBytes(8).toString("hex") }),
    );
    const layerData = Array.from({ length: layers }, () => randomBytes(64));
    for (const blob of [config, ...layerData]) this.blobs.set(digestOf(blob), blob);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: { mediaType: MEDIA.config, digest: digestOf(config), size: config.length },
        layers: layerData.map((data) => ({ mediaType: MEDIA.layer, digest: digestOf(data), size: data.length })),
      }),
    );
    const manifestDigest = this.putManifest(repository, tag, MEDIA.manifest, manifest);
    return { manifestDigest, blobDigests: [config, ...layerData].map(digestOf) };
  }

  /** Pushes one image per platform ("linux/amd64") and an index over them tagged `tag`. */
  pushIndex(repository: string, tag: string, platforms: string[]): Record<string, PushedImage> {
    const images: Record<string, PushedImage> = {};
    const manifests = platforms.map((platform) => {
      const image = this.pushImage(repository, undefined, 2);
      images[platform] = image;
      const [os, architecture, variant] = platform.split("/");
      const size = this.manifests.get(`${repository}@${image.manifestDigest}`)!.body.length;
      return {
        mediaType: MEDIA.manifest,
        digest: image.manifestDigest,
        size,
        platform: { os, architecture, ...(variant ? { variant } : {}) },
      };
    });
    // An attestation manifest, as buildx adds: never a match for a real platform.
    const attestation = this.pushImage(repository, undefined, 1);
    manifests.push({
      mediaType: MEDIA.manifest,
      digest: attestation.manifestDigest,
      size: 1,
      platform: { os: "unknown", architecture: "unknown" },
    });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests }));
    this.putManifest(repository, tag, MEDIA.index, index);
    return images;
  }

  /** Requests for a path starting with `prefix`. */
  requestsTo(prefix: string): RecordedRegistryRequest[] {
    return this.requests.filter((request) => request.path.startsWith(prefix));
  }

  private putManifest(repository: string, tag: string | undefined, mediaType: string, body: Buffer): string {
    const digest = digestOf(body);
    this.manifests.set(`${repository}@${digest}`, { mediaType, body });
    if (tag) this.manifests.set(`${repository}:${tag}`, { mediaType, body });
    return digest;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    const authorization = req.headers.authorization;
    this.requests.push({
      method: req.method ?? "GET",
      path: url.pathname + url.search,
      ...(authorization ? { authorization } : {}),
    });
    if (url.pathname === "/token") {
      this.token(url, authorization, res);
      return;
    }
    if (!this.authorized(authorization)) {
      const challenge =
        this.auth?.scheme === "bearer"
          ? `Bearer realm="${this.url}/token",service="fake-registry",scope="repository:x:pull"`
          : 'Basic realm="fake-registry"';
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": challenge });
      res.end(UNAUTHORIZED);
      return;
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!match) {
      res
        .writeHead(404, { "content-type": "application/json" })
        .end(JSON.stringify({ errors: [{ code: "NOT_FOUND" }] }));
      return;
    }
    const [, repository, kind, reference] = match as unknown as [string, string, string, string];
    if (kind === "manifests") {
      const key = reference.startsWith("sha256:") ? `${repository}@${reference}` : `${repository}:${reference}`;
      const manifest = this.manifests.get(key);
      if (!manifest) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }));
        return;
      }
      res.writeHead(200, { "content-type": manifest.mediaType, "docker-content-digest": digestOf(manifest.body) });
      res.end(manifest.body);
      return;
    }
    const blob = this.blobs.get(reference);
    res.writeHead(blob ? 200 : 404).end(blob);
  }

  private authorized(authorization: string | undefined): boolean {
    if (!this.auth) return true;
    if (this.auth.scheme === "basic") return authorization === this.basic();
    return authorization !== undefined && this.tokens.has(authorization.replace(/^Bearer /, ""));
  }

  private basic(): string {
    return `Basic ${Buffer.from(`${this.auth!.username}:${this.auth!.password}`).toString("base64")}`;
  }

  private token(url: URL, authorization: string | undefined, res: http.ServerResponse): void {
    if (this.auth && authorization !== this.basic()) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Basic realm="fake-token"' });
      res.end(UNAUTHORIZED);
      return;
    }
    const token = `token-${++this.tokenCount}-${url.searchParams.get("scope")}`;
    this.tokens.add(token);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token, expires_in: 300 }));
  }
}

export async function startFakeRegistry(auth?: FakeRegistryAuth): Promise<FakeRegistry> {
  return new FakeRegistry(auth).start();
}
