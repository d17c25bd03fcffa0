import { create } from "@bufbuild/protobuf";
import { ConnectError, type ConnectRouter } from "@connectrpc/connect";
import type { Logger } from "@d7y/observability";
import { contextFromHeaders, contextWithSpan, inSpan, SpanKind, tracerFor } from "@d7y/observability";
import {
  AnnounceHostResponseSchema,
  type AnnouncePeerResponse,
  LeaveHostResponseSchema,
  ListHostsResponseSchema,
  SchedulerService,
} from "@d7y/proto/scheduler/v1";
import { SchedulerError, toSchedulerConnectError } from "../errors.js";
import type { SchedulerState } from "../resource/scheduler-state.js";
import { PeerScheduler } from "../scheduling/peer-scheduler.js";
import { parseHost, parseHostTasks, parseId, parseIntervalMs } from "./parse-requests.js";
import { PeerSession } from "./peer-session.js";
import { hostInfo, peerInfo, taskInfo } from "./proto-views.js";
import { ResponseQueue } from "./response-queue.js";
import { watchStats } from "./stats-snapshot.js";

export interface SchedulerServiceDeps {
  state: SchedulerState;
  logger: Logger;
}

/** Connect routes of d7y.scheduler.v1.SchedulerService. Handlers are thin: errors map to codes here. */
const TRACER = tracerFor("scheduler");

export function schedulerRoutes(deps: SchedulerServiceDeps) {
  const { state } = deps;
  const logger = deps.logger.child({ component: "rpc" });
  const scheduler = new PeerScheduler(state, deps.logger.child({ component: "scheduling" }));

  /** Domain errors become their codes; anything else is a bug: logged with its stack, Internal. */
  const edge = (error: unknown, method: string) => {
    if (!(error instanceof SchedulerError) && !(error instanceof ConnectError)) {
      logger.error({ err: error, method }, "handler failed");
    }
    return toSchedulerConnectError(error);
  };

  return (router: ConnectRouter) => {
    router.service(SchedulerService, {
      async *announcePeer(requests, context) {
        const session = new PeerSession(state, scheduler, logger);
        const responses = new ResponseQueue<AnnouncePeerResponse>();
        // Requests are applied in order by this loop; answers go out through the queue as they are ready.
        // The stream joins the peer's trace (the daemon sends its traceparent): each scheduling
        // decision is a child span of the pull that asked for it.
        const streamSpan = TRACER.startSpan(
          "AnnouncePeer",
          { kind: SpanKind.SERVER },
          contextFromHeaders(context.requestHeader),
        );
        const streamContext = contextWithSpan(contextFromHeaders(context.requestHeader), streamSpan);
        void (async () => {
          try {
            for await (const request of requests) {
              const kind = request.request.case;
              const response =
                kind === "registerPeer" || kind === "reschedulePeer"
                  ? await inSpan(
                      TRACER,
                      `schedule ${kind}`,
                      {
                        parent: streamContext,
                        attributes: { "d7y.task.id": request.taskId, "d7y.peer.id": request.peerId },
                      },
                      async (span) => {
                        const answer = await session.handle(request, context.signal);
                        span.setAttribute("d7y.answer", answer?.response.case ?? "none");
                        return answer;
                      },
                    )
                  : await session.handle(request, context.signal);
              if (response) responses.push(response);
            }
            responses.end();
          } catch (error) {
            responses.fail(edge(error, "AnnouncePeer"));
          } finally {
            streamSpan.end();
            try {
              session.close();
            } catch (error) {
              logger.error({ err: error }, "closing a peer stream failed");
            }
          }
        })();
        yield* responses;
      },
      async announceHost(request) {
        try {
          const spec = parseHost(request.host);
          state.announceHost(
            spec,
            parseIntervalMs(request.intervalMs),
            parseHostTasks(request.tasks),
            request.tasksComplete,
          );
          return create(AnnounceHostResponseSchema, {});
        } catch (error) {
          throw edge(error, "AnnounceHost");
        }
      },
      async leaveHost(request) {
        try {
          state.leaveHost(parseId(request.hostId, "host_id"));
          return create(LeaveHostResponseSchema, {});
        } catch (error) {
          throw edge(error, "LeaveHost");
        }
      },
      async statTask(request) {
        try {
          const task = state.tasks.get(parseId(request.taskId, "task_id"));
          if (!task) throw new SchedulerError("not_found", `task ${request.taskId} not found`);
          return taskInfo(task, state);
        } catch (error) {
          throw edge(error, "StatTask");
        }
      },
      async statPeer(request) {
        try {
          const peer = state.peers.get(parseId(request.peerId, "peer_id"));
          if (!peer) throw new SchedulerError("not_found", `peer ${request.peerId} not found`);
          return peerInfo(peer, state);
        } catch (error) {
          throw edge(error, "StatPeer");
        }
      },
      async listHosts() {
        const now = state.now();
        const hosts = [...state.hosts.values()].filter((host) => !host.isExpired(now));
        return create(ListHostsResponseSchema, { hosts: hosts.map(hostInfo) });
      },
      watchStats(request, context) {
        return watchStats(state, request.intervalMs, context.signal);
      },
    });
  };
}
