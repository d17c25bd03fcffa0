/**
 * Deterministic OCI images built in-process: uncompressed tar layers of pseudo-random bytes
 * (AES-256-CTR keystream keyed by a seed), an image config and an OCI manifest per platform,
 * and an OCI index on top for multi-platform images. Plus a pusher that uses the registry HTTP API.
 *
 * Large layers live in files in a per-process cache dir (keyed by seed and size, removed when the
 * process exits or by clearImageCache()), small ones in memory.
 */
import { createCipheriv, createHash } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { request } from "undici";

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface LayerSpec {
  /** Approximate layer size in bytes (the size of the one file inside the tar). */
  size: number;
  /** Content seed; the same seed, size and platform give the same bytes. */
  seed: string;
}

export interface BuildImageOptions {
  layers: LayerSpec[];
  /** Default: one platform, linux/amd64. */
  platforms?: Platform[];
  /** Put an OCI index on top even for a single platform. */
  index?: boolean;
}

/** A content-addressed blob: its bytes are in `data` (small blobs) or in the file `path` (large ones). */
export interface ImageBlob {
  digest: string;
  size: number;
  mediaType: string;
  data?: Buffer;
  path?: string;
}

/** An OCI descriptor as it appears in manifests and indexes. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
}

export interface PlatformImage {
  platform: Platform;
  /** "os/architecture[/variant]". */
  name: string;
  manifest: ImageBlob & { data: Buffer };
  config: ImageBlob & { data: Buffer };
  layers: ImageBlob[];
}

export interface BuiltImage {
  platforms: PlatformImage[];
  /** The OCI index, for multi-platform images (or when asked for). */
  index?: ImageBlob & { data: Buffer };
  /** What a tag points to: the index, or the single manifest. */
  root: ImageBlob & { data: Buffer };
  /** Unique config and layer blobs of every platform. */
  blobs: ImageBlob[];
  /** Platform manifests. */
  manifests: Array<ImageBlob & { data: Buffer }>;
  /** Everything: blobs, manifests and the index. */
  all: ImageBlob[];
  forPlatform(platform: Platform | string): PlatformImage;
  /** Config and layers of one platform. */
  blobsFor(platform: Platform | string): ImageBlob[];
  layersFor(platform: Platform | string): ImageBlob[];
  /** Config, layers and manifest of one platform, plus the index if any: what a pull of that platform fetches. */
  pullSetFor(platform: Platform | string): ImageBlob[];
}

/** Blobs above this size are kept in files rather than in memory. */
const IN_MEMORY_LIMIT = 1024 * 1024;
const CHUNK = 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);
const EPOCH = "1970-01-01T00:00:00Z";

export function platformName(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.split("/");
  if (!os || !architecture) throw new Error(`not a platform: ${s}`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

function sha256(data: Buffer | string): Buffer {
  return createHash("sha256").update(data).digest();
}

/** A deterministic pseudo-random byte stream: AES-256-CTR over zeros, keyed by the seed. */
function keystream(seed: string): (n: number) => Buffer {
  const key = sha256(`d7y-test-key\0${seed}`);
  const iv = sha256(`d7y-test-iv\0${seed}`).subarray(0, 16);
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  return (n) => cipher.update(n === CHUNK ? ZEROS : ZEROS.subarray(0, n));
}

/** Streams a one-file tar of `size` pseudo-random bytes to `sink`. */
async function generateTar(seed: string, size: number, sink: (chunk: Buffer) => Promise<void> | void): Promise<void> {
  const pack = tar.pack();
  const name = `d7y-${sha256(seed).toString("hex").slice(0, 16)}.bin`;
  const consumed = (async () => {
    for await (const chunk of pack) await sink(chunk as Buffer);
  })();
  const entryDone = new Promise<void>((resolve, reject) => {
    const entry = pack.entry(
      { name, size, mode: 0o644, uid: 0, gid: 0, uname: "", gname: "", mtime: new Date(0), type: "file" },
      (err) => (err ? reject(err) : resolve()),
    );
    const next = keystream(seed);
    let left = size;
    const writeSome = (): void => {
      while (left > 0) {
        const n = Math.min(CHUNK, left);
        left -= n;
        if (!entry.write(next(n))) {
          entry.once("drain", writeSome);
          return;
        }
      }
      entry.end(null);
    };
    writeSome();
  });
  try {
    await entryDone;
    pack.finalize();
    await consumed;
  } catch (err) {
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
    await consumed.catch(() => {});
    throw err;
  }
}

let cacheDir: string | undefined;
const layerCache = new Map<string, Promise<ImageBlob>>();

function imageCacheDir(): string {
  if (!cacheDir) {
    const dir = mkdtempSync(join(tmpdir(), "d7y-img-"));
    cacheDir = dir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return cacheDir;
}

/** Removes the layer files generated so far (they are regenerated on demand). */
export async function clearImageCache(): Promise<void> {
  layerCache.clear();
  const dir = cacheDir;
  cacheDir = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
}

async function buildLayer(seed: string, size: number): Promise<ImageBlob> {
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`bad layer size ${size}`);
  if (size <= IN_MEMORY_LIMIT) {
    const chunks: Buffer[] = [];
    await generateTar(seed, size, (c) => {
      chunks.push(Buffer.from(c));
    });
    const data = Buffer.concat(chunks);
    return {
      digest: `sha256:${sha256(data).toString("hex")}`,
      size: data.length,
      mediaType: MEDIA_TYPES.layerTar,
      data,
    };
  }
  const dir = imageCacheDir();
  const key = sha256(`${seed}\0${size}`).toString("hex");
  const tmp = join(dir, `${key}.partial`);
  const fh = await open(tmp, "w");
  const hash = createHash("sha256");
  let total = 0;
  try {
    await generateTar(seed, size, async (c) => {
      hash.update(c);
      total += c.length;
      await fh.write(c);
    });
  } finally {
    await fh.close();
  }
  const digest = `sha256:${hash.digest("hex")}`;
  const path = join(dir, `${key}.tar`);
  await rename(tmp, path);
  return { digest, size: total, mediaType: MEDIA_TYPES.layerTar, path };
}

/** The layer for (seed, size), generated once per process. */
function layer(seed: string, size: number): Promise<ImageBlob> {
  const key = `${size}\0${seed}`;
  let p = layerCache.get(key);
  if (!p) {
    p = buildLayer(seed, size);
    p.catch(() => layerCache.delete(key));
    layerCache.set(key, p);
  }
  return p;
}

function jsonBlob(value: unknown, mediaType: string): ImageBlob & { data: Buffer } {
  const data = Buffer.from(JSON.stringify(value));
  return { digest: `sha256:${sha256(data).toString("hex")}`, size: data.length, mediaType, data };
}

function descriptor(b: ImageBlob, platform?: Platform): Descriptor {
  const d: Descriptor = { mediaType: b.mediaType, digest: b.digest, size: b.size };
  if (platform) d.platform = platform;
  return d;
}

/**
 * Builds an image. Each platform's layer i has the seed `${layers[i].seed}:${os/arch[/variant]}`,
 * so platforms never share layers, and the same specs always give the same digests.
 */
export async function buildImage(opts: BuildImageOptions): Promise<BuiltImage> {
  const platforms = opts.platforms ?? [{ os: "linux", architecture: "amd64" }];
  if (platforms.length === 0) throw new Error("buildImage: no platform");
  const images: PlatformImage[] = [];
  for (const platform of platforms) {
    const name = platformName(platform);
    const layers = await Promise.all(opts.layers.map((l) => layer(`${l.seed}:${name}`, l.size)));
    const config = jsonBlob(
      {
        created: EPOCH,
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
        history: layers.map((_, i) => ({ created: EPOCH, created_by: `d7y test layer ${i}` })),
      },
      MEDIA_TYPES.config,
    );
    const manifest = jsonBlob(
      {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config: descriptor(config),
        layers: layers.map((l) => descriptor(l)),
      },
      MEDIA_TYPES.manifest,
    );
    images.push({ platform, name, manifest, config, layers });
  }
  const index =
    platforms.length > 1 || opts.index
      ? jsonBlob(
          {
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.index,
            manifests: images.map((i) => descriptor(i.manifest, i.platform)),
          },
          MEDIA_TYPES.index,
        )
      : undefined;
  const unique = new Map<string, ImageBlob>();
  for (const i of images) for (const b of [i.config, ...i.layers]) unique.set(b.digest, b);
  const blobs = [...unique.values()];
  const manifests = images.map((i) => i.manifest);
  const forPlatform = (p: Platform | string): PlatformImage => {
    const name = typeof p === "string" ? platformName(parsePlatform(p)) : platformName(p);
    const found = images.find((i) => i.name === name);
    if (!found) throw new Error(`image has no platform ${name} (has ${images.map((i) => i.name).join(", ")})`);
    return found;
  };
  return {
    platforms: images,
    index,
    root: index ?? images[0]!.manifest,
    blobs,
    manifests,
    all: [...blobs, ...manifests, ...(index ? [index] : [])],
    forPlatform,
    blobsFor: (p) => {
      const i = forPlatform(p);
      return [i.config, ...i.layers];
    },
    layersFor: (p) => forPlatform(p).layers,
    pullSetFor: (p) => {
      const i = forPlatform(p);
      return [...(index ? [index] : []), i.manifest, i.config, ...i.layers];
    },
  };
}

/** A fresh stream of a blob's bytes. */
export function openBlob(blob: ImageBlob): Readable {
  if (blob.data) return Readable.from([blob.data]);
  if (blob.path) return createReadStream(blob.path, { highWaterMark: CHUNK });
  throw new Error(`blob ${blob.digest} has neither data nor path`);
}

/** A blob's bytes in memory (mind the size). */
export async function readBlob(blob: ImageBlob): Promise<Buffer> {
  if (blob.data) return blob.data;
  const chunks: Buffer[] = [];
  for await (const c of openBlob(blob)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface PushAuth {
  username: string;
  password: string;
}

export interface PushResult {
  /** Digest of what the tag points to. */
  digest: string;
  /** Blobs uploaded (those the registry already had are skipped). */
  uploaded: number;
  skipped: number;
}

function basicAuth(auth: PushAuth | undefined): Record<string, string> {
  return auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}` } : {};
}

async function expectStatus(
  what: string,
  res: Awaited<ReturnType<typeof request>>,
  ok: readonly number[],
): Promise<Awaited<ReturnType<typeof request>>> {
  if (!ok.includes(res.statusCode)) {
    const text = await res.body.text().catch(() => "");
    throw new Error(`${what}: HTTP ${res.statusCode} ${text.slice(0, 500)}`);
  }
  return res;
}

async function pushBlob(base: string, repo: string, blob: ImageBlob, auth: PushAuth | undefined): Promise<boolean> {
  const headers = basicAuth(auth);
  const head = await request(`${base}/v2/${repo}/blobs/${blob.digest}`, { method: "HEAD", headers });
  await head.body.dump();
  if (head.statusCode === 200) return false;
  const start = await expectStatus(
    `POST /v2/${repo}/blobs/uploads/`,
    await request(`${base}/v2/${repo}/blobs/uploads/`, {
      method: "POST",
      headers: { ...headers, "content-length": "0" },
    }),
    [202],
  );
  await start.body.dump();
  const location = start.headers.location;
  if (typeof location !== "string") throw new Error(`POST /v2/${repo}/blobs/uploads/: no Location header`);
  const target = new URL(location, base);
  target.searchParams.set("digest", blob.digest);
  const put = await expectStatus(
    `PUT blob ${blob.digest} to ${repo}`,
    await request(target, {
      method: "PUT",
      headers: { ...headers, "content-type": "application/octet-stream", "content-length": String(blob.size) },
      body: blob.data ?? openBlob(blob),
    }),
    [201],
  );
  await put.body.dump();
  return true;
}

async function putManifest(
  base: string,
  repo: string,
  reference: string,
  blob: ImageBlob & { data: Buffer },
  auth: PushAuth | undefined,
): Promise<void> {
  const res = await expectStatus(
    `PUT /v2/${repo}/manifests/${reference}`,
    await request(`${base}/v2/${repo}/manifests/${reference}`, {
      method: "PUT",
      headers: { ...basicAuth(auth), "content-type": blob.mediaType },
      body: blob.data,
    }),
    [201],
  );
  await res.body.dump();
}

/**
 * Pushes an image with the registry HTTP API: every blob (POST an upload, PUT it with ?digest=),
 * then the platform manifests by digest, the index by digest, and finally the tag.
 */
export async function pushImage(
  registryUrl: string,
  repo: string,
  tag: string,
  image: BuiltImage,
  auth?: PushAuth,
): Promise<PushResult> {
  const base = registryUrl.replace(/\/+$/, "");
  let uploaded = 0;
  let skipped = 0;
  const queue = [...image.blobs];
  const worker = async (): Promise<void> => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      if (await pushBlob(base, repo, b, auth)) uploaded++;
      else skipped++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
  for (const m of image.manifests) await putManifest(base, repo, m.digest, m, auth);
  if (image.index) await putManifest(base, repo, image.index.digest, image.index, auth);
  await putManifest(base, repo, tag, image.root, auth);
  return { digest: image.root.digest, uploaded, skipped };
}

/** Alias of ImageBlob (older name). */
export type Blob = ImageBlob;
