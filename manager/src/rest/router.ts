import type { IncomingHttpHeaders } from "node:http";
import { ManagerError } from "../errors.js";
import type { TokenScope } from "../token/token-service.js";

export interface RequestContext {
  method: string;
  url: URL;
  params: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Reads and parses the JSON body (bounded; 400 on bad JSON, 413 when too large). */
  body(): Promise<unknown>;
}

/** What a handler answers: JSON `body`, or `text`, or neither (e.g. 204). */
export interface Reply {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

export type Handler = (context: RequestContext) => Promise<Reply>;

export interface Route {
  method: string;
  pattern: string;
  handler: Handler;
  /** When set, the route needs a personal access token with this scope (/oapi/v1). */
  scope?: TokenScope;
}

export type RouteMatch =
  | { kind: "found"; route: Route; params: Record<string, string> }
  | { kind: "wrong-method"; allow: string[] }
  | { kind: "none" };

function segments(path: string): string[] {
  return path.split("/").filter((segment) => segment.length > 0);
}

/** Method + path table with `:name` parameters; tells "no such path" (404) from "wrong method" (405). */
export class Router {
  private readonly routes: Array<Route & { parts: string[] }> = [];

  add(method: string, pattern: string, handler: Handler, scope?: TokenScope): void {
    this.routes.push({ method, pattern, handler, parts: segments(pattern), ...(scope ? { scope } : {}) });
  }

  /** Throws URIError when a path segment is not valid percent-encoding. */
  match(method: string, path: string): RouteMatch {
    const parts = segments(path);
    const allow = new Set<string>();
    for (const route of this.routes) {
      if (route.parts.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const matches = route.parts.every((part, i) => {
        if (part.startsWith(":")) {
          params[part.slice(1)] = decodeURIComponent(parts[i]!);
          return true;
        }
        return part === parts[i];
      });
      if (!matches) continue;
      if (route.method === method) return { kind: "found", route, params };
      allow.add(route.method);
    }
    if (allow.size > 0) {
      if (allow.has("GET")) allow.add("HEAD");
      return { kind: "wrong-method", allow: [...allow].sort() };
    }
    return { kind: "none" };
  }
}

/** A numeric path parameter (`/jobs/:id`): a positive integer, else 400. */
export function idParam(context: RequestContext, name = "id"): number {
  const raw = context.params[name] ?? "";
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) {
    throw new ManagerError("invalid", `${name}: must be a positive integer, got "${raw}"`);
  }
  return Number(raw);
}
