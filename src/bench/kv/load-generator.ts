/**
 * A closed-loop load generator: `inFlight` workers each run one operation at a
 * time against a KvDriver, for a warm-up and then a measured window. Latencies
 * go to an HDR histogram; CPU of the client and of the server processes is
 * taken over the measured window only.
 */
import { build, type Histogram } from "hdr-histogram-js";
import { ownCpuMs, processCpuMs } from "./process-cpu.js";
import type { Workload } from "./workload.js";

/** What a benchmark drives: tsraft's KvClient or etcd's client, behind the same two calls. */
export interface KvDriver {
  readonly name: string;
  /** The server processes, for their CPU. */
  readonly serverPids: readonly number[];
  put(key: Buffer, value: Buffer): Promise<void>;
  get(key: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface PhaseResult {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** Percent of one core over the measured window. */
  readonly clientCpuPct: number;
  /** All server processes together, percent of one core. */
  readonly serverCpuPct: number;
}

export interface Phase {
  readonly op: "put" | "get";
  readonly inFlight: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

/** Runs one phase; an operation that fails ends the run with its error (a benchmark must not hide errors). */
export async function runPhase(driver: KvDriver, workload: Workload, phase: Phase): Promise<PhaseResult> {
  const histogram: Histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let measuring = false;
  let ops = 0;
  let stopped = false;
  let failure: unknown = null;
  const call = phase.op === "put" ? (key: Buffer) => driver.put(key, workload.value) : (key: Buffer) => driver.get(key);
  const worker = async (): Promise<void> => {
    while (!stopped) {
      const key = workload.keyOf(Math.floor(Math.random() * workload.keyCount));
      const startNs = process.hrtime.bigint();
      try {
        await call(key);
      } catch (error) {
        failure ??= error;
        stopped = true;
        return;
      }
      if (measuring) {
        histogram.recordValue(Number((process.hrtime.bigint() - startNs) / 1000n)); // microseconds
        ops++;
      }
    }
  };
  const workers = Array.from({ length: phase.inFlight }, () => worker());
  await sleep(phase.warmupMs);
  const cpuBefore = { client: ownCpuMs(), servers: serversCpuMs(driver) };
  const startMs = performance.now();
  measuring = true;
  await sleep(phase.measureMs);
  measuring = false;
  const elapsedMs = performance.now() - startMs;
  const cpuAfter = { client: ownCpuMs(), servers: serversCpuMs(driver) };
  stopped = true;
  await Promise.all(workers);
  if (failure !== null) throw failure;
  const result: PhaseResult = {
    opsPerSec: Math.round((ops * 1000) / elapsedMs),
    p50Ms: microsToMs(histogram.getValueAtPercentile(50)),
    p99Ms: microsToMs(histogram.getValueAtPercentile(99)),
    p999Ms: microsToMs(histogram.getValueAtPercentile(99.9)),
    clientCpuPct: Math.round(((cpuAfter.client - cpuBefore.client) * 100) / elapsedMs),
    serverCpuPct: Math.round(((cpuAfter.servers - cpuBefore.servers) * 100) / elapsedMs),
  };
  histogram.destroy();
  return result;
}

/** Writes every key once, `inFlight` at a time. */
export async function load(driver: KvDriver, workload: Workload, inFlight: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let n = next++; n < workload.keyCount; n = next++) await driver.put(workload.keyOf(n), workload.value);
  };
  await Promise.all(Array.from({ length: inFlight }, () => worker()));
}

function serversCpuMs(driver: KvDriver): number {
  let total = 0;
  for (const pid of driver.serverPids) total += processCpuMs(pid);
  return total;
}

function microsToMs(micros: number): number {
  return Math.round(micros) / 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
