/**
 * One simulated run: a seed picks the scenario, the fault phase runs with
 * clients and the nemesis, then everything heals and liveness is checked.
 * Any broken invariant (a checker's, or the core's own assertions) ends the
 * run as a violation, with the recent trace to explain it.
 */
import { InvariantError } from "../core/assert.js";
import { SeededRandom } from "../core/random.js";
import { Violation, type ViolationKind } from "./checkers/violation.js";
import { Clients } from "./clients.js";
import { Cluster } from "./cluster.js";
import { Nemesis } from "./faults.js";
import { checkLiveness, describeNodes, healAll } from "./liveness.js";
import { drawScenario, ELECTION_TICKS, TICK_MS, type Scenario } from "./scenario.js";
import type { TraceSink } from "./trace.js";

export interface RunOptions {
  /** 3, 5 or 7 voters at start; drawn from the seed when absent. */
  nodes?: number;
  /** Length of the fault phase, in ticks. */
  faultTicks?: number;
  /** Liveness: the longest time without any progress after healing, in election timeouts. */
  livenessElectionTimeouts?: number;
  /** Print every event as it happens. */
  trace?: TraceSink;
  maxSteps?: number;
}

export const DEFAULT_FAULT_TICKS = 300;
export const DEFAULT_LIVENESS_ELECTION_TIMEOUTS = 30;
/** Liveness: the longest the whole phase may take, in election timeouts (a backlog may commit slowly). */
export const LIVENESS_CAP_ELECTION_TIMEOUTS = 150;

export interface RunSummary {
  nodes: number;
  virtualMs: number;
  leaders: number;
  highestCommitted: number;
  writesAcked: number;
  readsServed: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  messages: number;
  recoveryMs: number;
}

export interface SeedResult {
  seed: number;
  ok: boolean;
  steps: number;
  violation: { kind: ViolationKind; message: string } | null;
  /** The recent trace, on violation only. */
  trace: string[];
  summary: RunSummary;
}

export function runSeed(seed: number, options: RunOptions = {}): SeedResult {
  const random = new SeededRandom(seed);
  const scenario = drawScenario(random.fork(), options.nodes);
  const cluster = new Cluster({
    random: random.fork(),
    nodeCount: scenario.nodeCount,
    spareCount: 3,
    tickMs: TICK_MS,
    tickJitterMs: 1,
    coreOptions: scenario.coreOptions,
    network: scenario.network,
    maxDiskDelayMs: scenario.maxDiskDelayMs,
    snapshotEveryEntries: scenario.snapshotEveryEntries,
    pipelineSends: scenario.pipelineSends,
    traceSink: options.trace ?? null,
    maxSteps: options.maxSteps ?? 1_000_000,
  });
  const nemesis = new Nemesis(cluster, random.fork(), scenario.faults, scenario.network);
  const clients = new Clients(cluster, random.fork(), `s${seed}`);
  let violation: Violation | null = null;
  let recoveryMs = -1;
  if (options.trace) options.trace(describeScenario(seed, scenario));
  try {
    cluster.start();
    clients.start(scenario.meanProposalGapMs, scenario.meanReadGapMs, scenario.clientPauses);
    nemesis.start();
    cluster.runUntil((options.faultTicks ?? DEFAULT_FAULT_TICKS) * TICK_MS);
    nemesis.stop();
    clients.stop();
    healAll(cluster, scenario.network);
    const electionMs = ELECTION_TICKS * TICK_MS;
    const stallMs = (options.livenessElectionTimeouts ?? DEFAULT_LIVENESS_ELECTION_TIMEOUTS) * electionMs;
    recoveryMs = checkLiveness(cluster, clients, stallMs, LIVENESS_CAP_ELECTION_TIMEOUTS * electionMs).convergedAfterMs;
  } catch (error) {
    violation = asViolation(error);
  }
  const summary: RunSummary = {
    nodes: scenario.nodeCount,
    virtualMs: cluster.queue.nowMs,
    leaders: cluster.safety.leadersSeen,
    highestCommitted: cluster.safety.highestCommitted,
    writesAcked: cluster.reads.writesAcked,
    readsServed: cluster.reads.readsServed,
    crashes: cluster.stats.crashes,
    partitions: cluster.stats.partitions,
    confChanges: cluster.stats.confChangesCommitted,
    messages: cluster.network.stats.sent,
    recoveryMs,
  };
  let trace: string[] = [];
  if (violation) {
    trace = cluster.trace.recent();
    if (violation.kind !== "liveness") trace.push("node states:", describeNodes(cluster));
  }
  return {
    seed,
    ok: violation === null,
    steps: cluster.queue.steps,
    violation: violation ? { kind: violation.kind, message: violation.message } : null,
    trace,
    summary,
  };
}

/** Checker violations pass through; anything else thrown means the core (or the simulator) broke. */
export function asViolation(error: unknown): Violation {
  if (error instanceof Violation) return error;
  if (error instanceof InvariantError) return new Violation("core-invariant", `${error.message}\n${stackHead(error)}`);
  if (error instanceof Error) return new Violation("core-crash", `${error.name}: ${error.message}\n${stackHead(error)}`);
  return new Violation("core-crash", `non-error thrown: ${String(error)}`);
}

function stackHead(error: Error): string {
  return (error.stack ?? "").split("\n").slice(1, 8).join("\n");
}

export function describeScenario(seed: number, s: Scenario): string {
  const n = s.network;
  const w = s.faults.weights;
  return (
    `seed ${seed}: ${s.nodeCount} nodes; network ${n.fifo ? "FIFO links" : "reordering"}, delay ${n.minDelayMs}-${n.maxDelayMs} ms, loss ${(n.lossRate * 100).toFixed(1)}%, ` +
    `duplicates ${(n.duplicateRate * 100).toFixed(1)}%, slow ${(n.slowChance * 100).toFixed(1)}% (+${n.slowExtraMs} ms); disk 0-${s.maxDiskDelayMs} ms; ` +
    `snapshot every ${s.snapshotEveryEntries} entries; pipelined sends ${s.pipelineSends}; ` +
    `core ${describeCoreOptions(s)}; ` +
    `faults every ~${s.faults.meanGapMs} ms (partition ${w.partition}, isolate new leader ${w.isolateNewLeader}, crash ${w.crash}, crashLeader ${w.crashLeader}, crash after commit ${w.crashAfterCommit}, torn write ${w.tornWrite}, churn ${w.churn}, transfer ${w.transfer}, flaky network ${w.flakyNetwork})`
  );
}

function describeCoreOptions(s: Scenario): string {
  const o = s.coreOptions;
  return (
    `preVote ${o.preVote}, checkQuorum ${o.checkQuorum}, reads ${o.readOnly}, per append ${o.maxEntriesPerAppend} entries/${o.maxBytesPerAppend} B, ` +
    `inflight ${o.maxInflightAppends}/${o.maxInflightBytes} B, uncommitted ${o.maxUncommittedBytes} B, pending reads ${o.maxPendingReads}, ` +
    `catch-up margin ${o.catchupMargin}${o.priorityOf ? ", priorities" : ""}${o.quiesce ? ", quiesce (clients pause)" : ""}${o.immediateCommitNews ? ", immediate commit news" : ""}`
  );
}
