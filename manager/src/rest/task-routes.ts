import type { InstanceRegistry } from "../cluster/instances.js";
import { invalid } from "../errors.js";
import { createSchedulerTaskStatter, statTask, type TaskStatter } from "../task/task-stats.js";
import type { Router } from "./router.js";

export interface TaskRoutesDeps {
  instances: InstanceRegistry;
  /** Default: StatTask on each scheduler, 5 s each. */
  statter?: TaskStatter;
}

const TASK_ID = /^(?:sha256:)?([a-f0-9]{64})$/;

/** `GET /tasks/:id`: a task (hex id or sha256:<hex>) as the active schedulers know it: hosts, pieces, parents. */
export function addTaskRoutes(router: Router, prefix: string, deps: TaskRoutesDeps): void {
  const statter = deps.statter ?? createSchedulerTaskStatter(5_000);
  router.add("GET", `${prefix}/tasks/:id`, async (context) => {
    const raw = context.params.id ?? "";
    const match = TASK_ID.exec(raw);
    if (!match) throw invalid(`id: expected a task id (64 hex) or sha256:<64 hex>, got "${raw.slice(0, 80)}"`);
    return { status: 200, body: await statTask(deps.instances, statter, match[1]!) };
  });
}
