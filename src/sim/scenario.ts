/**
 * Everything a run draws from its seed before it starts: cluster size,
 * network, disk, snapshot and client settings, and the fault plan.
 */
import type { CoreOptions } from "../core/options.js";
import type { SeededRandom } from "../core/random.js";
import { drawFaultPlan, type FaultPlan } from "./faults.js";
import type { NetworkParams } from "./network.js";

export const TICK_MS = 10;
export const ELECTION_TICKS = 10;
export const HEARTBEAT_TICKS = 1;
export const NODE_COUNTS: readonly number[] = [3, 5, 7];

export interface Scenario {
  readonly nodeCount: number;
  readonly coreOptions: Partial<CoreOptions>;
  readonly network: NetworkParams;
  readonly maxDiskDelayMs: number;
  readonly snapshotEveryEntries: number;
  readonly pipelineSends: boolean;
  readonly meanProposalGapMs: number;
  readonly meanReadGapMs: number;
  /** Clients fall silent together now and then (seeds that quiesce), or never (null). */
  readonly clientPauses: { readonly meanEveryMs: number; readonly maxMs: number } | null;
  readonly faults: FaultPlan;
}

export function drawScenario(random: SeededRandom, nodeCount: number | undefined): Scenario {
  const nodes = nodeCount ?? random.pick(NODE_COUNTS);
  const leaderChurn = random.chance(0.3);
  const maxDelayMs = 1 + random.nextInt(TICK_MS);
  const network: NetworkParams = {
    minDelayMs: 1,
    maxDelayMs,
    slowChance: random.chance(0.5) ? random.nextFloat() * 0.1 : 0,
    slowExtraMs: TICK_MS * (1 + random.nextInt(5)),
    lossRate: random.chance(0.5) ? random.nextFloat() * 0.05 : 0,
    duplicateRate: random.chance(0.5) ? random.nextFloat() * 0.03 : 0,
    fifo: random.chance(0.7),
  };
  const coreOptions = drawCoreOptions(random, leaderChurn);
  return {
    nodeCount: nodes,
    coreOptions,
    network,
    maxDiskDelayMs: random.nextInt(1 + random.nextInt(TICK_MS)),
    snapshotEveryEntries: random.pick([Number.POSITIVE_INFINITY, 5, 10, 25, 60]),
    pipelineSends: random.chance(0.5),
    meanProposalGapMs: 1 + random.nextInt(4 * TICK_MS),
    meanReadGapMs: 1 + random.nextInt(8 * TICK_MS),
    clientPauses: coreOptions.quiesce === true ? { meanEveryMs: 20 * TICK_MS, maxMs: 5 * ELECTION_TICKS * TICK_MS } : null,
    faults: drawFaultPlan(random, nodes, TICK_MS, leaderChurn),
  };
}

/**
 * Core options vary by seed: tiny flow-control limits make appends split and
 * stall, small bounds make EBUSY paths run, and the election and read modes
 * (pre-vote, check-quorum, lease reads, priorities) each get their share.
 */
function drawCoreOptions(random: SeededRandom, leaderChurn: boolean): Partial<CoreOptions> {
  const checkQuorum = random.chance(0.8);
  const options: Partial<CoreOptions> = {
    electionTicks: ELECTION_TICKS,
    heartbeatTicks: HEARTBEAT_TICKS,
    preVote: random.chance(0.8),
    checkQuorum,
    readOnly: checkQuorum && random.chance(0.25) ? "lease" : "safe",
    // Leader-churn seeds send one entry at a time, so old entries can reach a quorum before the new no-op.
    maxEntriesPerAppend: leaderChurn ? random.pick([1, 2]) : random.pick([1, 2, 4, 16, 1024]),
    maxBytesPerAppend: random.pick([64, 256, 512 * 1024]),
    maxInflightAppends: random.pick([1, 2, 4, 256]),
    maxInflightBytes: random.pick([128, 1024, 32 * 1024 * 1024]),
    // Bounded in every seed: with tiny flow-control limits an unbounded backlog would
    // take longer to commit than the liveness bound allows (back-pressure is the answer).
    maxUncommittedBytes: random.pick([256, 2048, 16 * 1024]),
    maxPendingReads: random.pick([2, 10_000]),
    catchupMargin: random.pick([0, 5, 1000]),
    // Idle groups stop heartbeating; the cluster models the liveness watch that wakes them.
    quiesce: random.chance(0.3),
    immediateCommitNews: random.chance(0.3),
  };
  if (random.chance(0.15)) {
    // Election priorities (never 0, which would forbid leading and could leave no candidate).
    const priorities = new Map<string, number>();
    for (let i = 1; i <= 12; i++) priorities.set(`n${i}`, 1 + random.nextInt(5));
    options.priorityOf = (id) => priorities.get(id) ?? 1;
  }
  return options;
}
