/**
 * The nemesis: a fault schedule drawn from the seed. Every so often it picks
 * one fault by the seed's weights: a partition (or its healing), a crash of a
 * random node or of the leader (restarted later), a membership change, a
 * leadership transfer, or a stormy spell on the network.
 */
import type { SeededRandom } from "../core/random.js";
import type { NodeId } from "../core/types.js";
import type { Cluster } from "./cluster.js";
import type { NetworkParams } from "./network.js";
import { isolate, makePartition, PARTITION_KINDS } from "./partitions.js";

export type FaultKind =
  | "partition"
  | "isolateNewLeader"
  | "crash"
  | "crashLeader"
  | "crashAfterCommit"
  | "tornWrite"
  | "churn"
  | "transfer"
  | "flakyNetwork";
const FAULT_KINDS: readonly FaultKind[] = [
  "partition",
  "isolateNewLeader",
  "crash",
  "crashLeader",
  "crashAfterCommit",
  "tornWrite",
  "churn",
  "transfer",
  "flakyNetwork",
];

export interface FaultPlan {
  readonly meanGapMs: number;
  readonly weights: Readonly<Record<FaultKind, number>>;
  /** A crashed node restarts within this long. */
  readonly maxDownMs: number;
  /** At most this many members are down at once. */
  readonly maxDown: number;
  /** Membership churn keeps between 3 and this many voters. */
  readonly maxVoters: number;
}

/**
 * Each seed stresses its own mix of faults. A "leader churn" seed crashes and
 * isolates leaders fast, often right after they commit: the short-lived
 * leaderships of the paper's Figure 8, where a wrong commit rule shows.
 */
export function drawFaultPlan(random: SeededRandom, nodeCount: number, tickMs: number, leaderChurn: boolean): FaultPlan {
  const weight = (): number => (random.chance(0.2) ? 0 : 1 + random.nextInt(5));
  const weights = {} as Record<FaultKind, number>;
  for (const kind of FAULT_KINDS) weights[kind] = leaderChurn ? 0 : weight();
  if (leaderChurn) {
    weights.partition = 3;
    weights.isolateNewLeader = 4;
    weights.crashAfterCommit = 4;
    weights.crashLeader = 2;
    weights.crash = 1;
  }
  if (FAULT_KINDS.every((kind) => weights[kind] === 0)) weights.partition = 1;
  return {
    meanGapMs: tickMs * (leaderChurn ? 3 + random.nextInt(8) : 5 + random.nextInt(30)),
    weights,
    maxDownMs: tickMs * (5 + random.nextInt(60)),
    maxDown: !leaderChurn && random.chance(0.2) ? nodeCount : Math.floor((nodeCount - 1) / 2),
    maxVoters: Math.min(nodeCount + 2, 9),
  };
}

export class Nemesis {
  private running = false;
  private requestSeq = 0;
  private flakyToken = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly random: SeededRandom,
    private readonly plan: FaultPlan,
    private readonly usualNetwork: NetworkParams,
  ) {}

  start(): void {
    this.running = true;
    this.scheduleNext();
  }

  stop(): void {
    this.running = false;
    for (const node of this.cluster.allNodes()) {
      node.crashDuringNextWrite = null;
      node.crashAfterLeaderCommit = null;
      node.onLeadership = null;
    }
  }

  private scheduleNext(): void {
    this.cluster.queue.after(1 + this.random.nextInt(2 * this.plan.meanGapMs), () => {
      if (!this.running) return;
      this.act(this.pickKind());
      this.scheduleNext();
    });
  }

  private pickKind(): FaultKind {
    let total = 0;
    for (const kind of FAULT_KINDS) total += this.plan.weights[kind];
    let roll = this.random.nextInt(total);
    for (const kind of FAULT_KINDS) {
      roll -= this.plan.weights[kind];
      if (roll < 0) return kind;
    }
    return "partition";
  }

  act(kind: FaultKind): void {
    switch (kind) {
      case "partition":
        return this.partition();
      case "crash":
        return this.crash(false);
      case "crashLeader":
        return this.crash(true);
      case "isolateNewLeader":
        return this.armIsolateNewLeader();
      case "crashAfterCommit":
        return this.armCrashAfterCommit();
      case "tornWrite":
        return this.armTornWrite();
      case "churn":
        return this.churn();
      case "transfer":
        return this.transfer();
      case "flakyNetwork":
        return this.flakyNetwork();
    }
  }

  private partition(): void {
    if (this.cluster.network.isPartitioned() && this.random.chance(0.6)) {
      this.cluster.heal();
      return;
    }
    const ids = this.cluster.allNodes().filter((node) => node.lifecycle === "up" || node.lifecycle === "down").map((node) => node.id);
    if (ids.length < 2) return;
    const kind = this.random.pick(PARTITION_KINDS);
    this.cluster.partition(makePartition(kind, ids, this.cluster.leader()?.id ?? null, this.random));
  }

  private crash(leaderOnly: boolean): void {
    if (this.membersDown() >= this.plan.maxDown) return;
    const members = new Set(this.cluster.members());
    let target: NodeId | null = null;
    if (leaderOnly) {
      target = this.cluster.leader()?.id ?? null;
    } else {
      const candidates = this.cluster.runningNodes().filter((node) => members.has(node.id));
      if (candidates.length > 0) target = this.random.pick(candidates).id;
    }
    if (target === null) return;
    this.cluster.crash(target);
    const id = target;
    this.cluster.queue.after(1 + this.random.nextInt(this.plan.maxDownMs), () => this.cluster.restart(id));
  }

  /** The next node to become leader is cut off at once: it appends entries nobody else gets. */
  private armIsolateNewLeader(): void {
    for (const node of this.cluster.runningNodes()) {
      node.onLeadership = () => {
        for (const other of this.cluster.allNodes()) other.onLeadership = null;
        const ids = this.cluster.allNodes().filter((n) => n.lifecycle === "up" || n.lifecycle === "down").map((n) => n.id);
        this.cluster.partition(isolate(ids, node.id));
      };
    }
    this.cluster.trace.note(this.cluster.queue.nowMs, "sim", "armed: the next leader is isolated at once");
  }

  /** Every running member will crash, if it leads, right after it next commits: new leaders die young. */
  private armCrashAfterCommit(): void {
    const members = new Set(this.cluster.members());
    for (const node of this.cluster.runningNodes()) {
      if (!members.has(node.id) || node.crashAfterLeaderCommit !== null) continue;
      node.crashAfterLeaderCommit = () => {
        for (const other of this.cluster.allNodes()) other.crashAfterLeaderCommit = null;
        if (this.membersDown() >= this.plan.maxDown) return;
        this.cluster.crash(node.id);
        this.cluster.queue.after(1 + this.random.nextInt(this.plan.maxDownMs), () => this.cluster.restart(node.id));
      };
    }
    this.cluster.trace.note(this.cluster.queue.nowMs, "sim", "armed: the next leader to commit crashes at once");
  }

  private membersDown(): number {
    const members = new Set(this.cluster.members());
    return this.cluster.allNodes().filter((node) => node.lifecycle === "down" && members.has(node.id)).length;
  }

  /** One or two nodes (the leader among them, often) will crash in the middle of their next disk write. */
  private armTornWrite(): void {
    const members = new Set(this.cluster.members());
    const running = this.cluster.runningNodes().filter((node) => members.has(node.id) && node.crashDuringNextWrite === null);
    if (running.length === 0) return;
    const leader = this.cluster.leader();
    const targets = leader && this.random.chance(0.5) ? [leader] : [];
    for (let count = 1 + this.random.nextInt(2); targets.length < count; ) {
      const node = this.random.pick(running);
      if (targets.includes(node)) break;
      targets.push(node);
    }
    for (const node of targets) {
      node.crashDuringNextWrite = () => {
        this.cluster.crash(node.id);
        this.cluster.queue.after(1 + this.random.nextInt(this.plan.maxDownMs), () => this.cluster.restart(node.id));
      };
    }
    this.cluster.trace.note(this.cluster.queue.nowMs, "sim", `armed: ${targets.map((n) => n.id).join(", ")} will crash during the next disk write`);
  }

  /** One membership change through the leader: add/remove/promote/demote, keeping 3..maxVoters voters. */
  private churn(): void {
    const leader = this.cluster.leader();
    if (!leader?.core) return;
    const conf = leader.core.status().conf;
    if (conf.outgoing.length > 0) return;
    const voters = [...conf.voters];
    const learners = [...conf.learners];
    const members = new Set([...voters, ...learners]);
    const spares = this.cluster.ids.filter((id) => !members.has(id));
    const changes: { what: string; voters: NodeId[]; learners: NodeId[] }[] = [];
    const without = (list: NodeId[], id: NodeId): NodeId[] => list.filter((x) => x !== id);
    if (spares.length > 0 && voters.length < this.plan.maxVoters) {
      const id = this.random.pick(spares);
      changes.push({ what: `add voter ${id}`, voters: [...voters, id], learners });
    }
    if (spares.length > 0 && learners.length < 2) {
      const id = this.random.pick(spares);
      changes.push({ what: `add learner ${id}`, voters, learners: [...learners, id] });
    }
    if (voters.length > 3) {
      const id = this.random.pick(voters);
      changes.push({ what: `remove voter ${id}`, voters: without(voters, id), learners });
      changes.push({ what: `demote voter ${id}`, voters: without(voters, id), learners: [...learners, id] });
    }
    if (learners.length > 0) {
      const id = this.random.pick(learners);
      if (voters.length < this.plan.maxVoters) changes.push({ what: `promote learner ${id}`, voters: [...voters, id], learners: without(learners, id) });
      changes.push({ what: `remove learner ${id}`, voters, learners: without(learners, id) });
    }
    if (spares.length > 0 && voters.length >= 3) {
      const out = this.random.pick(voters);
      const added = this.random.pick(spares);
      changes.push({ what: `replace voter ${out} by ${added}`, voters: [...without(voters, out), added], learners });
    }
    if (changes.length === 0) return;
    const change = this.random.pick(changes);
    // A peer being added must be running to catch up; a removed one comes back with its old state.
    for (const id of [...change.voters, ...change.learners]) {
      const node = this.cluster.node(id);
      if (node.lifecycle === "new" || node.lifecycle === "removed") node.start();
    }
    const mode = this.random.chance(0.25) ? "joint" : "auto";
    const requestId = `cc${++this.requestSeq}`;
    this.cluster.stats.confChangesProposed++;
    leader.act(`conf change ${requestId} (${mode}): ${change.what}`, (core) =>
      core.proposeConfChange({ voters: change.voters, learners: change.learners }, requestId, mode),
    );
  }

  private transfer(): void {
    const leader = this.cluster.leader();
    if (!leader?.core) return;
    const others = leader.core.status().conf.voters.filter((id) => id !== leader.id);
    const target = others.length === 0 || this.random.chance(0.2) ? null : this.random.pick(others);
    this.cluster.stats.transfers++;
    leader.act(`transfer leadership to ${target ?? "the most up-to-date voter"}`, (core) => core.transferLeadership(target));
  }

  /** A spell of loss, duplication and slow messages, then back to the seed's usual network. */
  private flakyNetwork(): void {
    const token = ++this.flakyToken;
    const network = this.cluster.network;
    network.params = {
      ...this.usualNetwork,
      lossRate: this.random.nextFloat() * 0.3,
      duplicateRate: this.random.nextFloat() * 0.1,
      slowChance: this.random.nextFloat() * 0.3,
      slowExtraMs: this.cluster.tickMs * (1 + this.random.nextInt(10)),
    };
    this.cluster.trace.note(this.cluster.queue.nowMs, "net", `flaky network: loss ${pct(network.params.lossRate)}, duplicates ${pct(network.params.duplicateRate)}, slow ${pct(network.params.slowChance)}`);
    this.cluster.queue.after(this.cluster.tickMs * (10 + this.random.nextInt(100)), () => {
      if (token !== this.flakyToken || !this.running) return;
      network.params = { ...this.usualNetwork };
      this.cluster.trace.note(this.cluster.queue.nowMs, "net", "network calm again");
    });
  }
}

function pct(rate: number): string {
  return `${Math.round(rate * 100)}%`;
}
