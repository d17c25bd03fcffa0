import { z } from "zod";
import type { Clusters } from "../cluster/clusters.js";
import type { InstanceRegistry } from "../cluster/instances.js";
import { invalid, invalidInput } from "../errors.js";
import type { InstanceState } from "../storage/records.js";
import { optionalId, pageOf, paginationHeaders, parsePagination } from "./pagination.js";
import { idParam, type RequestContext, type Router } from "./router.js";
import { clusterView, schedulerView, seedPeerView } from "./views.js";

export interface ClusterRoutesDeps {
  clusters: Clusters;
  instances: InstanceRegistry;
}

const configSchema = z
  .object({
    candidate_parent_limit: z.number().int().min(1).max(20).optional(),
    back_to_source_limit: z.number().int().min(0).max(10_000).optional(),
    peer_upload_limit: z.number().int().min(0).max(10_000).optional(),
  })
  .strict();

const createSchema = z.object(
  {
    name: z.string({ error: "required" }).trim().min(1, "required").max(256),
    bio: z.string().max(1024).optional(),
    config: configSchema.optional(),
  },
  { error: "the body must be a JSON object" },
);

const patchSchema = z
  .object(
    {
      name: z.string().trim().min(1).max(256).optional(),
      bio: z.string().max(1024).optional(),
      config: configSchema.optional(),
    },
    { error: "the body must be a JSON object" },
  )
  .refine((patch) => Object.keys(patch).length > 0, "nothing to change: send name, bio or config");

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) throw invalidInput(result.error);
  return result.data;
}

function stateFilter(query: URLSearchParams): InstanceState | undefined {
  const state = query.get("state");
  if (!state) return undefined;
  if (state !== "active" && state !== "inactive") throw invalid('state: must be "active" or "inactive"');
  return state;
}

/** Clusters (with their config), and the schedulers and seed peers registered in them. */
export function addClusterRoutes(router: Router, prefix: string, deps: ClusterRoutesDeps, openApi: boolean): void {
  const scope = openApi ? "cluster" : undefined;
  const list = async (context: RequestContext) => {
    const pagination = parsePagination(context.url.searchParams);
    const all = await deps.clusters.list();
    return {
      status: 200,
      body: pageOf(all, pagination).map(clusterView),
      headers: paginationHeaders(context.url, pagination, all.length),
    };
  };
  router.add("GET", `${prefix}/clusters`, list, scope);
  router.add(
    "POST",
    `${prefix}/clusters`,
    async (context) => ({
      status: 200,
      body: clusterView(await deps.clusters.create(parse(createSchema, await context.body()))),
    }),
    scope,
  );
  router.add(
    "GET",
    `${prefix}/clusters/:id`,
    async (context) => ({ status: 200, body: clusterView(await deps.clusters.require(idParam(context))) }),
    scope,
  );
  router.add(
    "PATCH",
    `${prefix}/clusters/:id`,
    async (context) => {
      const id = idParam(context);
      const patch = parse(patchSchema, await context.body());
      return { status: 200, body: clusterView(await deps.clusters.update(id, patch)) };
    },
    scope,
  );
  if (openApi) return;

  router.add("GET", `${prefix}/schedulers`, async (context) => {
    const query = context.url.searchParams;
    const pagination = parsePagination(query);
    const clusterId = optionalId(query, "scheduler_cluster_id");
    const state = stateFilter(query);
    const all = (await deps.instances.listSchedulers(clusterId === undefined ? {} : { clusterId })).filter(
      (scheduler) => state === undefined || scheduler.state === state,
    );
    return {
      status: 200,
      body: pageOf(all, pagination).map(schedulerView),
      headers: paginationHeaders(context.url, pagination, all.length),
    };
  });
  router.add("GET", `${prefix}/seed-peers`, async (context) => {
    const query = context.url.searchParams;
    const pagination = parsePagination(query);
    const clusterId = optionalId(query, "seed_peer_cluster_id");
    const state = stateFilter(query);
    const all = (await deps.instances.listSeedPeers(clusterId === undefined ? {} : { clusterId })).filter(
      (seed) => state === undefined || seed.state === state,
    );
    return {
      status: 200,
      body: pageOf(all, pagination).map(seedPeerView),
      headers: paginationHeaders(context.url, pagination, all.length),
    };
  });
}
