/**
 * The simulated cluster: nodes, the network between them, the event queue
 * that drives everything, and the checkers every node reports to. It also
 * runs membership: a node removed by a committed configuration is stopped,
 * one added is started (fresh, or from its old durable state if it comes back).
 */
import type { Message } from "../core/messages.js";
import type { CoreOptions } from "../core/options.js";
import type { SeededRandom } from "../core/random.js";
import type { ConfState, NodeId } from "../core/types.js";
import { ReadChecker } from "./checkers/reads.js";
import { SafetyChecker } from "./checkers/safety.js";
import { Violation } from "./checkers/violation.js";
import { EventQueue } from "./event-queue.js";
import { Network, type DropReason, type NetworkParams } from "./network.js";
import type { Partition } from "./partitions.js";
import { SimNode, type Carried, type NodeEnv } from "./sim-node.js";
import { Trace, type TraceSink } from "./trace.js";

export interface ClusterConfig {
  readonly random: SeededRandom;
  /** Voters of the initial configuration. */
  readonly nodeCount: number;
  /** Extra ids that membership churn may add. */
  readonly spareCount: number;
  readonly tickMs: number;
  readonly tickJitterMs: number;
  readonly coreOptions: Partial<CoreOptions>;
  readonly network: NetworkParams;
  readonly maxDiskDelayMs: number;
  readonly snapshotEveryEntries: number;
  readonly pipelineSends: boolean;
  readonly traceSink: TraceSink | null;
  /** Stop the run (as a violation) after this many events: a message storm is a bug too. */
  readonly maxSteps: number;
}

export type AckListener = (node: SimNode, label: string, index: number) => void;
export type ReadListener = (node: SimNode, context: string, served: boolean) => void;

export interface ClusterStats {
  crashes: number;
  partitions: number;
  confChangesProposed: number;
  confChangesCommitted: number;
  transfers: number;
}

function membersOf(conf: ConfState): Set<NodeId> {
  return new Set([...conf.voters, ...conf.outgoing, ...conf.learners]);
}

/** How long the modelled liveness watch takes to notice a change: an election timeout. */
const LIVENESS_DETECTION_TICKS = 10;

export class Cluster implements NodeEnv {
  readonly queue = new EventQueue();
  readonly trace: Trace;
  readonly safety = new SafetyChecker();
  readonly reads = new ReadChecker();
  readonly network: Network<Carried>;
  readonly ids: readonly NodeId[];
  readonly initialIds: readonly NodeId[];
  readonly tickMs: number;
  readonly tickJitterMs: number;
  readonly coreOptions: Partial<CoreOptions>;
  readonly snapshotEveryEntries: number;
  readonly pipelineSends: boolean;
  readonly stats: ClusterStats = { crashes: 0, partitions: 0, confChangesProposed: 0, confChangesCommitted: 0, transfers: 0 };
  /** The newest configuration known committed (some node applied it). */
  committedConf: { index: number; conf: ConfState };
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly ackListeners: AckListener[] = [];
  private readonly readListeners: ReadListener[] = [];
  private readonly maxDiskDelayMs: number;
  private readonly maxSteps: number;
  /** Pair `a|b` (a < b) -> whether the liveness watch last reported them reachable (absent: yes). */
  private readonly reportedReachable = new Map<string, boolean>();
  private livenessCheckPending = false;

  constructor(config: ClusterConfig) {
    this.trace = new Trace(config.traceSink);
    this.tickMs = config.tickMs;
    this.tickJitterMs = config.tickJitterMs;
    this.coreOptions = config.coreOptions;
    this.snapshotEveryEntries = config.snapshotEveryEntries;
    this.pipelineSends = config.pipelineSends;
    this.maxDiskDelayMs = config.maxDiskDelayMs;
    this.maxSteps = config.maxSteps;
    const ids: NodeId[] = [];
    for (let i = 1; i <= config.nodeCount + config.spareCount; i++) ids.push(`n${i}`);
    this.ids = ids;
    this.initialIds = ids.slice(0, config.nodeCount);
    const bootstrap: ConfState = { voters: [...this.initialIds], outgoing: [], learners: [] };
    const empty: ConfState = { voters: [], outgoing: [], learners: [] };
    this.committedConf = { index: 0, conf: bootstrap };
    for (const id of ids) {
      const initial = this.initialIds.includes(id);
      this.nodes.set(id, new SimNode(id, initial ? bootstrap : empty, config.random.fork(), this));
    }
    this.network = new Network<Carried>(config.random.fork(), this.queue, {
      deliver: (message, carried) => this.deliver(message, carried),
      drop: (message, carried, reason) => this.dropped(message, carried, reason),
    }, config.network);
  }

  start(): void {
    for (const id of this.initialIds) this.node(id).start();
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (!node) throw new Violation("sim-error", `unknown node ${id}`);
    return node;
  }

  allNodes(): SimNode[] {
    return [...this.nodes.values()];
  }

  runningNodes(): SimNode[] {
    return this.allNodes().filter((node) => node.isUp);
  }

  /** Members of the newest committed configuration. */
  members(): NodeId[] {
    return [...membersOf(this.committedConf.conf)].sort();
  }

  /** The running leader with the highest term, if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      if (!node.core || node.role !== "leader") continue;
      const status = node.core.status();
      if (status.role === "leader" && status.term > bestTerm) {
        best = node;
        bestTerm = status.term;
      }
    }
    return best;
  }

  onAck(listener: AckListener): void {
    this.ackListeners.push(listener);
  }

  onReadFinished(listener: ReadListener): void {
    this.readListeners.push(listener);
  }

  crash(id: NodeId): void {
    const node = this.node(id);
    if (!node.isUp) return;
    this.stats.crashes++;
    node.stop("down");
  }

  /** Restarts a crashed node, unless membership removed it meanwhile. */
  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.lifecycle === "down") node.start();
  }

  partition(partition: Partition): void {
    this.stats.partitions++;
    this.network.cut(partition.cut);
    this.trace.note(this.queue.nowMs, "net", `partition (${partition.kind}): ${partition.description}`);
    this.topologyChanged();
  }

  heal(): void {
    if (!this.network.isPartitioned()) return;
    this.network.heal();
    this.trace.note(this.queue.nowMs, "net", "partition healed");
    this.topologyChanged();
  }

  /**
   * Models the runtime's liveness watch of peer processes (quiescing seeds only):
   * an election timeout after a change, each pair's reachability is compared with
   * what was last reported, and both ends of a changed pair hear of it. Like the
   * real watch, it misses a crash and restart quicker than that.
   */
  topologyChanged(): void {
    if (!this.coreOptions.quiesce || this.livenessCheckPending) return;
    this.livenessCheckPending = true;
    this.queue.after(LIVENESS_DETECTION_TICKS * this.tickMs, () => {
      this.livenessCheckPending = false;
      this.reportLiveness();
    });
  }

  private reportLiveness(): void {
    for (const a of this.ids) {
      for (const b of this.ids) {
        if (a >= b) continue;
        const reachable = this.node(a).isUp && this.node(b).isUp && this.network.canReach(a, b) && this.network.canReach(b, a);
        const key = `${a}|${b}`;
        if ((this.reportedReachable.get(key) ?? true) === reachable) continue;
        this.reportedReachable.set(key, reachable);
        this.node(a).peerLivenessChanged(b, reachable);
        this.node(b).peerLivenessChanged(a, reachable);
      }
    }
  }

  /** Runs events until `untilMs` of virtual time. */
  runUntil(untilMs: number): void {
    while (this.queue.runNext(untilMs)) this.checkBudget();
    this.queue.runUntil(untilMs);
  }

  /** Runs events until `done()` holds or `deadlineMs` passes; returns whether `done()` held. */
  runUntilOr(done: () => boolean, deadlineMs: number): boolean {
    while (!done()) {
      if (!this.queue.runNext(deadlineMs)) return done();
      this.checkBudget();
    }
    return true;
  }

  private checkBudget(): void {
    if (this.queue.steps > this.maxSteps) {
      throw new Violation("event-storm", `more than ${this.maxSteps} events by ${this.queue.nowMs} ms: a message or tick storm`);
    }
  }

  // NodeEnv: what nodes need from the cluster.

  diskDelayMs(random: SeededRandom): number {
    return random.nextInt(this.maxDiskDelayMs + 1);
  }

  send(message: Message, carried: Carried): void {
    if (message.type === "snapshot" && carried.snapshot === null) {
      this.dropped(message, carried, "snapshot data gone");
      return;
    }
    this.network.send(message, carried);
  }

  configApplied(node: SimNode, index: number): void {
    if (index <= this.committedConf.index || !node.core) return;
    const before = membersOf(this.committedConf.conf);
    const conf = node.core.confAt(index);
    const after = membersOf(conf);
    this.committedConf = { index, conf };
    this.stats.confChangesCommitted++;
    const outgoing = conf.outgoing.length > 0 ? ` outgoing=[${conf.outgoing.join(",")}]` : "";
    this.trace.note(this.queue.nowMs, "conf", `committed at ${index}: voters=[${conf.voters.join(",")}]${outgoing} learners=[${conf.learners.join(",")}]`);
    for (const id of before) {
      const member = this.node(id);
      if (!after.has(id) && member.lifecycle !== "removed") member.stop("removed");
    }
    for (const id of after) {
      const member = this.node(id);
      if (!before.has(id) && (member.lifecycle === "new" || member.lifecycle === "removed")) member.start();
    }
  }

  writeAcknowledged(node: SimNode, label: string, index: number): void {
    this.reads.writeAcknowledged(index);
    for (const listener of this.ackListeners) listener(node, label, index);
  }

  readFinished(node: SimNode, context: string, served: boolean): void {
    for (const listener of this.readListeners) listener(node, context, served);
  }

  private deliver(message: Message, carried: Carried): void {
    const target = this.nodes.get(message.to);
    if (!target || !target.isUp) {
      this.dropped(message, carried, "down");
      return;
    }
    this.trace.message(this.queue.nowMs, "recv", message);
    target.receive(message, carried);
    if (message.type === "snapshot") this.reportSnapshot(message, carried, true);
  }

  private dropped(message: Message, carried: Carried, reason: DropReason | "down" | "snapshot data gone"): void {
    this.trace.message(this.queue.nowMs, "drop", message, reason);
    if (message.type === "snapshot") this.reportSnapshot(message, carried, false);
    else if (reason === "partition" && message.type === "append") this.tellSender(message, carried, (core) => core.reportUnreachable(message.to));
  }

  private reportSnapshot(message: Message, carried: Carried, delivered: boolean): void {
    this.tellSender(message, carried, (core) => core.reportSnapshot(message.to, delivered));
  }

  /** Feedback to a sender goes through the queue: it must not re-enter a core that is mid-Ready. */
  private tellSender(message: Message, carried: Carried, tell: (core: NonNullable<SimNode["core"]>) => void): void {
    this.queue.after(0, () => {
      const sender = this.nodes.get(message.from);
      if (!sender?.core || sender.incarnation !== carried.senderIncarnation) return;
      tell(sender.core);
      sender.pump();
    });
  }
}
