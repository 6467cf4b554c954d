/**
 * One nemesis run: a fresh cluster, clients recording a history, and cycles of
 * calm then fault then heal until the time is up; then everything healed, the
 * registers read one last time, and the history checked: linearizable per
 * key, no acknowledged write lost, fencing tokens in order. Recovery is the
 * time from lifting a fault to the first write the cluster acknowledges.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkKvHistory, lostAcknowledgedWrites, type CheckResult } from "../check/index.js";
import { SeededRandom } from "../core/random.js";
import { RaftError } from "../errors.js";
import { KvClient } from "../kv/kv-client.js";
import { checkLockTokens } from "./lock-check.js";
import { nemesisFor, restoreMembership } from "./nemeses.js";
import { NemesisCluster } from "./nemesis-cluster.js";
import { Workload } from "./workload.js";

export interface NemesisRunOptions {
  readonly nemesis: string;
  readonly nodes: number;
  readonly seconds: number;
  readonly seed: number;
  /** The run's folder: data, servers.log, history.json. */
  readonly root: string;
  readonly electionTimeoutMs: number;
  /** Calm before each fault, and the fault's length. */
  readonly calmSeconds: number;
  readonly faultSeconds: number;
  readonly log: (line: string) => void;
}

export interface NemesisSummary {
  readonly nemesis: string;
  readonly nodes: number;
  readonly seed: number;
  readonly faults: number;
  readonly ops: number;
  readonly ok: number;
  readonly fail: number;
  readonly info: number;
  readonly linearizable: boolean | "unknown";
  readonly lostAcknowledgedWrites: number;
  readonly lockTokenViolations: number;
  /** The longest recovery of the run. */
  readonly recoverySeconds: number;
}

/** A cluster that does not take a write this long after a fault is lifted failed the run. */
const RECOVERY_LIMIT_MS = 60_000;
const PROBE_TIMEOUT_MS = 1000;
const CHECK_TIME_BUDGET_MS = 120_000;

export async function runNemesis(options: NemesisRunOptions): Promise<{ summary: NemesisSummary; check: CheckResult; problems: string[] }> {
  // Apart, so the same seed picks the same faults however the clients' choices interleave.
  const random = new SeededRandom(options.seed);
  const clientRandom = new SeededRandom(options.seed ^ 0x5bd1e995);
  const cluster = await NemesisCluster.start({ nodes: options.nodes, root: options.root, electionTimeoutMs: options.electionTimeoutMs });
  const endpoints = [...cluster.ids];
  const probe = new KvClient({ endpoints, transport: cluster.transport, timeoutMs: PROBE_TIMEOUT_MS });
  const workload = new Workload({
    endpoints,
    transport: cluster.transport,
    registerKeys: 24,
    registerWorkers: 8,
    sequenceWorkers: 2,
    lockWorkers: 2,
    maxThinkMs: 30,
    timeoutMs: 3000,
    random: () => clientRandom.nextFloat(),
  });
  const problems: string[] = [];
  let recoveryMs = 0;
  let faults = 0;
  try {
    options.log(`cluster ${endpoints.join(",")} up; waiting for a leader`);
    await untilWritable(probe);
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const clients = workload.run(stopped);
    const endAtMs = Date.now() + options.seconds * 1000;
    while (Date.now() + (options.calmSeconds + options.faultSeconds) * 1000 <= endAtMs) {
      await sleep(options.calmSeconds * 1000);
      const { name, nemesis } = nemesisFor(options.nemesis, random);
      const fault = await nemesis(cluster, random);
      faults++;
      options.log(`fault ${faults} (${name}): ${fault.description}`);
      await sleep(options.faultSeconds * 1000);
      const liftedAtMs = Date.now();
      await fault.undo();
      await cluster.heal();
      const recovered = await untilWritable(probe, liftedAtMs);
      recoveryMs = Math.max(recoveryMs, recovered);
      options.log(`healed; writes again after ${(recovered / 1000).toFixed(2)} s`);
    }
    await sleep(Math.max(0, endAtMs - Date.now()));
    stop();
    await clients;
    await restoreMembership(cluster);
    recoveryMs = Math.max(recoveryMs, await untilWritable(probe));
    const finalReads = await workload.finalReads();
    if (finalReads === null) problems.push("the final reads failed after healing: the cluster did not serve reads");
    await writeFile(join(options.root, "history.json"), JSON.stringify(workload.history));
    const check = checkKvHistory(workload.history, { timeBudgetMs: CHECK_TIME_BUDGET_MS });
    const lost = finalReads === null ? [] : lostAcknowledgedWrites(workload.history, finalReads);
    const lockViolations = checkLockTokens(workload.lockAcquisitions);
    if (check.linearizable !== true) problems.push(`history not linearizable (${String(check.linearizable)}):\n${check.excerpt ?? ""}`);
    for (const write of lost) problems.push(`lost acknowledged write: ${JSON.stringify(write)}`);
    problems.push(...lockViolations);
    const summary: NemesisSummary = {
      nemesis: options.nemesis,
      nodes: options.nodes,
      seed: options.seed,
      faults,
      ops: check.counts.total,
      ok: check.counts.ok,
      fail: check.counts.fail,
      info: check.counts.info,
      linearizable: check.linearizable,
      lostAcknowledgedWrites: lost.length,
      lockTokenViolations: lockViolations.length,
      recoverySeconds: Math.round(recoveryMs) / 1000,
    };
    return { summary, check, problems };
  } finally {
    await workload.close();
    await probe.close();
    await cluster.stop();
  }
}

/** Milliseconds from `sinceMs` until a write is acknowledged; ETIMEDOUT after RECOVERY_LIMIT_MS. */
async function untilWritable(probe: KvClient, sinceMs = Date.now()): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.put("nemesis-probe", String(attempt));
      return Date.now() - sinceMs;
    } catch (error) {
      if (!(error instanceof RaftError)) throw error;
      if (Date.now() - sinceMs > RECOVERY_LIMIT_MS) throw new RaftError("ETIMEDOUT", `the cluster took no write for ${RECOVERY_LIMIT_MS} ms after the faults were lifted (last: ${error.code}); see servers.log`);
      await sleep(50);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
