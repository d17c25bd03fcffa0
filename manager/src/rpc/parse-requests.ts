import { isIP } from "node:net";
import { resolveClusterId } from "../cluster/clusters.js";
import type { InstanceIdentity, SchedulerInput, SeedPeerInput } from "../cluster/instances.js";
import { invalid } from "../errors.js";

/** Limits of request fields: anything larger is refused. */
export const REQUEST_LIMITS = { hostname: 253, text: 256, features: 16, hostId: 256 } as const;

function text(value: string, name: string, max: number = REQUEST_LIMITS.text): string {
  if (value.length > max) throw invalid(`${name} is longer than ${max} characters`);
  return value;
}

function hostname(value: string): string {
  if (value.trim().length === 0) throw invalid("hostname is required");
  return text(value, "hostname", REQUEST_LIMITS.hostname);
}

function ip(value: string): string {
  if (isIP(value) === 0) throw invalid(`ip "${value.slice(0, 64)}" is not an IP address`);
  return value;
}

function port(value: number, name: string, required: boolean): number {
  if (!Number.isInteger(value) || value < (required ? 1 : 0) || value > 65535) {
    throw invalid(`${name} must be ${required ? "1" : "0"}-65535, got ${value}`);
  }
  return value;
}

export function parseIdentity(request: {
  hostname: string;
  ip: string;
  port: number;
  clusterId: bigint;
}): InstanceIdentity {
  return {
    hostname: hostname(request.hostname),
    ip: ip(request.ip),
    port: port(request.port, "port", true),
    clusterId: resolveClusterId(request.clusterId),
  };
}

export function parseSchedulerInput(request: {
  hostname: string;
  ip: string;
  port: number;
  idc: string;
  location: string;
  clusterId: bigint;
  features: string[];
}): SchedulerInput {
  if (request.features.length > REQUEST_LIMITS.features) {
    throw invalid(`at most ${REQUEST_LIMITS.features} features are allowed`);
  }
  return {
    ...parseIdentity(request),
    port: port(request.port, "port", true),
    idc: text(request.idc, "idc"),
    location: text(request.location, "location"),
    features: [...new Set(request.features.map((feature) => text(feature, "feature")))],
  };
}

export function parseSeedPeerInput(request: {
  hostname: string;
  ip: string;
  port: number;
  downloadPort: number;
  idc: string;
  location: string;
  clusterId: bigint;
  hostId: string;
}): SeedPeerInput {
  return {
    ...parseIdentity(request),
    port: port(request.port, "port", true),
    downloadPort: port(request.downloadPort, "download_port", false),
    idc: text(request.idc, "idc"),
    location: text(request.location, "location"),
    hostId: text(request.hostId, "host_id", REQUEST_LIMITS.hostId),
  };
}
