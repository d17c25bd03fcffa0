import type { Logger } from "@d7y/observability";
import type { SchedulerOptions } from "../config.js";
import { invalid, SchedulerError } from "../errors.js";
import type { SchedulerMetrics } from "../metrics.js";
import { SeedCoordinator } from "../seed/seed-coordinator.js";
import { createDfdaemonSeedTrigger, type SeedTrigger } from "../seed/seed-trigger.js";
import { ChangeSignal } from "./change-signal.js";
import { Host, type HostSpec } from "./host.js";
import { type DownloadSpec, Peer } from "./peer.js";
import { PeerProgress, type PieceReport } from "./peer-progress.js";
import { Task } from "./task.js";

/** A complete task a host announces it can serve. */
export interface HostTaskSpec {
  taskId: string;
  url: string;
  digest: string;
  contentLength: number;
  pieceLength: number;
  pieceCount: number;
}

export interface RegisterPeerInput {
  peerId: string;
  taskId: string;
  hostId: string;
  download: DownloadSpec;
  /** Pieces the peer already holds verified (resume). */
  pieces: PieceReport[];
}

export interface SchedulerStateDeps {
  logger: Logger;
  /** Starts a seed download; the real one calls the seed daemon's Download RPC. */
  seedTrigger?: SeedTrigger;
  /** Clock for expiry and TTLs (tests move it); waits use real time. */
  now?: () => number;
  /** Absent: nothing is counted (tests, --no-metrics). */
  metrics?: SchedulerMetrics;
}

/** Everything the scheduler knows, in memory: hosts, tasks, peers, suspects; and their lifecycle rules. */
export class SchedulerState {
  readonly hosts = new Map<string, Host>();
  readonly tasks = new Map<string, Task>();
  readonly peers = new Map<string, Peer>();
  /** Host id -> time until which nobody is offered its peers (it served bytes that failed verification). */
  readonly suspectHosts = new Map<string, number>();
  readonly changes = new ChangeSignal();
  readonly seeds: SeedCoordinator;
  /** Applies what peers report on their streams. */
  readonly progress: PeerProgress;
  readonly logger: Logger;
  readonly metrics: SchedulerMetrics | undefined;
  private readonly clock: () => number;
  private readonly stopping = new AbortController();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly options: SchedulerOptions,
    deps: SchedulerStateDeps,
  ) {
    this.logger = deps.logger;
    this.metrics = deps.metrics;
    this.clock = deps.now ?? Date.now;
    this.progress = new PeerProgress(this);
    this.seeds = new SeedCoordinator(this, deps.seedTrigger ?? createDfdaemonSeedTrigger(), deps.logger);
  }

  now(): number {
    return this.clock();
  }

  /** Aborts when the scheduler stops: waits end and seed triggers are cancelled. */
  get stopSignal(): AbortSignal {
    return this.stopping.signal;
  }

  start(): void {
    if (this.sweepTimer || this.stopping.signal.aborted) return;
    this.sweepTimer = setInterval(() => {
      try {
        this.sweep();
      } catch (error) {
        this.logger.error({ err: error }, "sweep failed");
      }
    }, this.options.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.stopping.abort();
    this.changes.close();
    await this.seeds.settle();
  }

  // Hosts

  /** Upserts a host and adopts the complete tasks it lists as Succeeded peers. */
  announceHost(spec: HostSpec, intervalMs: number, tasks: HostTaskSpec[], tasksComplete = false): Host {
    const now = this.now();
    const ttlMs = Math.max(3 * intervalMs, this.options.hostTtlMinMs);
    let host = this.hosts.get(spec.id);
    if (host) {
      host.spec = spec;
      host.announcedAt = now;
      host.ttlMs = ttlMs;
    } else {
      host = new Host(spec, now, ttlMs);
      this.hosts.set(spec.id, host);
      this.logger.info({ hostId: spec.id, type: spec.type, ip: spec.ip }, "host joined");
    }
    for (const task of tasks) this.adoptCompleteTask(host, task);
    if (tasksComplete) this.dropUnlistedTasks(host, tasks, intervalMs);
    this.changes.notify();
    return host;
  }

  /**
   * The host listed every complete task it holds: its succeeded peers of tasks not in the list were
   * evicted or deleted there, so they must not be offered as parents any more. Peers that finished
   * within the last interval are kept (the list may have been made just before they finished).
   */
  private dropUnlistedTasks(host: Host, tasks: HostTaskSpec[], intervalMs: number): void {
    const listed = new Set(tasks.map((task) => task.taskId));
    const now = this.now();
    for (const peerId of [...host.peers]) {
      const peer = this.peers.get(peerId);
      if (peer?.state !== "succeeded" || listed.has(peer.taskId)) continue;
      if (now - peer.updatedAt < intervalMs) continue;
      this.removePeer(peer, "the host no longer holds the task");
    }
  }

  leaveHost(hostId: string, reason = "left"): boolean {
    const host = this.hosts.get(hostId);
    if (!host) return false;
    for (const peerId of [...host.peers]) {
      const peer = this.peers.get(peerId);
      if (peer) this.removePeer(peer, `host ${reason}`);
    }
    this.hosts.delete(hostId);
    this.logger.info({ hostId, reason }, "host removed");
    this.changes.notify();
    return true;
  }

  /** The host when known and not expired. */
  liveHost(hostId: string): Host | undefined {
    const host = this.hosts.get(hostId);
    return host && !host.isExpired(this.now()) ? host : undefined;
  }

  liveSeedHosts(): Host[] {
    const now = this.now();
    return [...this.hosts.values()].filter((host) => host.isSeed && !host.isExpired(now));
  }

  isSuspect(hostId: string): boolean {
    const until = this.suspectHosts.get(hostId);
    return until !== undefined && until > this.now();
  }

  /** A task a host holds complete: the task is created if unknown and the host gets a Succeeded peer. */
  adoptCompleteTask(host: Host, spec: HostTaskSpec): Peer | undefined {
    const now = this.now();
    const task = this.ensureTask(spec.taskId, spec.url, spec.digest);
    const log = this.logger.child({ hostId: host.id, taskId: task.id });
    if (spec.digest && task.digest && spec.digest !== task.digest) {
      log.warn({ announced: spec.digest, known: task.digest }, "host announced a task with another digest; ignored");
      return undefined;
    }
    const conflict = task.recordSize(spec);
    if (conflict) {
      log.warn({ conflict }, "host announced a task with another size; ignored");
      return undefined;
    }
    const existing = this.peerOnHost(task, host.id);
    if (existing?.state === "succeeded") {
      existing.updatedAt = now;
      return existing;
    }
    // A live stream for this host's peer reports its own progress.
    if (existing?.streamAttached && !existing.isFinished()) return existing;
    if (existing) this.removePeer(existing, "replaced by the host's announcement");
    const peer = new Peer(
      `${host.id}-${task.id}`,
      task.id,
      host.id,
      { url: task.url, digest: task.digest, requestHeader: {}, needBackToSource: false },
      now,
    );
    this.addPeer(task, host, peer);
    this.progress.complete(peer, task);
    log.debug({ peerId: peer.id }, "adopted a complete task from the host's announcement");
    return peer;
  }

  // Tasks and peers

  seedPeerOf(task: Task): Peer | undefined {
    for (const id of task.peers) {
      const peer = this.peers.get(id);
      if (peer && peer.state !== "failed" && peer.state !== "left" && this.hosts.get(peer.hostId)?.isSeed) return peer;
    }
    return undefined;
  }

  peerOnHost(task: Task, hostId: string): Peer | undefined {
    const id = task.peerByHost.get(hostId);
    return id === undefined ? undefined : this.peers.get(id);
  }

  backToSourceCount(task: Task): number {
    let count = 0;
    for (const id of task.peers) if (this.peers.get(id)?.countsAsBackToSource()) count++;
    return count;
  }

  /** Whether this peer object is still the registered one (a re-registration replaces it). */
  isCurrent(peer: Peer): boolean {
    return this.peers.get(peer.id) === peer;
  }

  /** Creates or replaces a peer (Pending) for a registering stream. */
  registerPeer(input: RegisterPeerInput): Peer {
    const host = this.liveHost(input.hostId);
    if (!host) {
      throw new SchedulerError("precondition", `host ${input.hostId} is not known: announce the host first`);
    }
    const task = this.ensureTask(input.taskId, input.download.url, input.download.digest);
    if (input.download.digest && task.digest && input.download.digest !== task.digest) {
      throw invalid(`task ${task.id} has digest ${task.digest}, the download says ${input.download.digest}`);
    }
    for (const piece of input.pieces) this.progress.checkPiece(task, piece.number);
    const sameId = this.peers.get(input.peerId);
    if (sameId) this.removePeer(sameId, "re-registered");
    const sameHost = this.peerOnHost(task, host.id);
    if (sameHost) this.removePeer(sameHost, "replaced by a new peer of the same host");
    const peer = new Peer(input.peerId, task.id, host.id, input.download, this.now());
    peer.streamAttached = true;
    this.addPeer(task, host, peer);
    this.progress.resumed(peer, task, input.pieces);
    if (host.isSeed && task.seedAttempt !== "failed") task.seedAttempt = "started";
    this.changes.notify();
    return peer;
  }

  removePeer(peer: Peer, reason: string): void {
    peer.state = "left";
    peer.offeredParents.clear();
    if (this.peers.get(peer.id) === peer) this.peers.delete(peer.id);
    this.hosts.get(peer.hostId)?.peers.delete(peer.id);
    const task = this.tasks.get(peer.taskId);
    if (task) {
      task.peers.delete(peer.id);
      if (task.peerByHost.get(peer.hostId) === peer.id) task.peerByHost.delete(peer.hostId);
      if (task.seedAttempt === "started" && !this.seedPeerOf(task)) task.seedAttempt = "none";
      task.updatedAt = this.now();
    }
    this.logger.debug({ peerId: peer.id, taskId: peer.taskId, hostId: peer.hostId, reason }, "peer left");
    this.changes.notify();
  }

  /** Drops expired hosts (and their peers), stale suspects, old Failed peers and tasks idle without peers. */
  sweep(): void {
    const now = this.now();
    for (const host of [...this.hosts.values()]) {
      if (host.isExpired(now)) this.leaveHost(host.id, "expired");
    }
    for (const [hostId, until] of [...this.suspectHosts]) {
      if (until <= now) this.suspectHosts.delete(hostId);
    }
    const ttl = this.options.taskTtlMs;
    for (const peer of [...this.peers.values()]) {
      if (peer.state === "failed" && !peer.streamAttached && now - peer.updatedAt > ttl) {
        this.removePeer(peer, "failed long ago");
      }
    }
    for (const task of [...this.tasks.values()]) {
      if (task.peers.size === 0 && now - task.updatedAt > ttl) {
        this.tasks.delete(task.id);
        this.logger.debug({ taskId: task.id }, "task dropped: no peers");
      }
    }
  }

  private ensureTask(taskId: string, url: string, digest: string): Task {
    let task = this.tasks.get(taskId);
    if (!task) {
      task = new Task(taskId, url, digest, this.now());
      this.tasks.set(taskId, task);
      return task;
    }
    if (!task.url) task.url = url;
    if (!task.digest) task.digest = digest;
    return task;
  }

  private addPeer(task: Task, host: Host, peer: Peer): void {
    this.peers.set(peer.id, peer);
    task.peers.add(peer.id);
    task.peerByHost.set(host.id, peer.id);
    task.updatedAt = peer.createdAt;
    host.peers.add(peer.id);
  }
}
