import type { Clusters } from "../cluster/clusters.js";
import { invalid } from "../errors.js";
import type { JobFilter, JobService } from "../job/job-service.js";
import { JOB_STATES, JOB_TYPES, type JobState, type JobType } from "../storage/records.js";
import { paginationHeaders, parsePagination } from "./pagination.js";
import { idParam, type Router } from "./router.js";
import { jobView } from "./views.js";

export interface JobRoutesDeps {
  jobs: JobService;
  clusters: Clusters;
}

/** States an /oapi/v1 client sees as PENDING (see jobView). */
const OPEN_API_PENDING: readonly JobState[] = ["PENDING", "RECEIVED", "STARTED", "RETRY"];

function jobFilter(query: URLSearchParams, openApi: boolean): JobFilter {
  const filter: JobFilter = {};
  const type = query.get("type");
  if (type) {
    if (!(JOB_TYPES as readonly string[]).includes(type)) {
      throw invalid(`type: unsupported job type "${type}" (supported: ${JOB_TYPES.join(", ")})`);
    }
    filter.type = type as JobType;
  }
  const state = query.get("state");
  if (state) {
    if (!(JOB_STATES as readonly string[]).includes(state)) {
      throw invalid(`state: must be one of ${JOB_STATES.join(", ")}`);
    }
    filter.states = openApi && state === "PENDING" ? OPEN_API_PENDING : [state as JobState];
  }
  const userId = query.get("user_id");
  if (userId) {
    if (!/^\d{1,15}$/.test(userId)) throw invalid("user_id: must be a non-negative integer");
    filter.userId = Number(userId);
  }
  return filter;
}

/** `/jobs` under a prefix: /api/v1 (no auth, like Dragonfly v2.1) or /oapi/v1 (token with the job scope). */
export function addJobRoutes(router: Router, prefix: string, deps: JobRoutesDeps, openApi: boolean): void {
  const scope = openApi ? "job" : undefined;
  const clustersById = async () => new Map((await deps.clusters.list()).map((cluster) => [cluster.id, cluster]));

  router.add(
    "POST",
    `${prefix}/jobs`,
    async (context) => {
      const job = await deps.jobs.create(await context.body());
      return { status: 200, body: jobView(job, await clustersById(), openApi) };
    },
    scope,
  );
  router.add(
    "GET",
    `${prefix}/jobs`,
    async (context) => {
      const pagination = parsePagination(context.url.searchParams);
      const filter = jobFilter(context.url.searchParams, openApi);
      const { jobs, total } = await deps.jobs.list(filter, pagination.page, pagination.perPage);
      const clusters = await clustersById();
      return {
        status: 200,
        body: jobs.map((job) => jobView(job, clusters, openApi)),
        headers: paginationHeaders(context.url, pagination, total),
      };
    },
    scope,
  );
  router.add(
    "GET",
    `${prefix}/jobs/:id`,
    async (context) => {
      const job = await deps.jobs.get(idParam(context));
      return { status: 200, body: jobView(job, await clustersById(), openApi) };
    },
    scope,
  );
  router.add(
    "DELETE",
    `${prefix}/jobs/:id`,
    async (context) => {
      await deps.jobs.delete(idParam(context));
      return { status: 204 };
    },
    scope,
  );
}
