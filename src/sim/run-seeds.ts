/**
 * Many seeds: in this thread, or spread over worker threads in chunks (each
 * worker asks for the next chunk when done, so slow seeds do not hold others
 * back). Results do not depend on the number of workers: each seed's run is
 * fully determined by the seed, and the summary is built in seed order.
 */
import { Worker } from "node:worker_threads";
import { runSeed, type RunOptions, type SeedResult } from "./run-seed.js";

export type BatchOptions = Omit<RunOptions, "trace">;

export interface SeedsOptions extends BatchOptions {
  count: number;
  start: number;
  /** 0 or 1: run here; more: that many worker threads. */
  workers: number;
  /** Called after every chunk with the seeds done so far. */
  onProgress?: (done: number, violations: number) => void;
  /** Called once per failing seed, as soon as it fails. */
  onFailure?: (result: SeedResult) => void;
}

export interface SeedsSummary {
  seeds: number;
  violations: number;
  steps: number;
  firstFailingSeed: number | null;
  /** Failing seeds in seed order (at most MAX_KEPT_FAILURES). */
  failures: SeedResult[];
}

export const MAX_KEPT_FAILURES = 20;
const CHUNK_SEEDS = 20;

/** Messages between runSeeds and its workers. */
export interface ChunkRequest {
  readonly from: number;
  readonly to: number;
  readonly options: BatchOptions;
}
export interface ChunkReply {
  readonly results: SeedResult[];
}

export async function runSeeds(options: SeedsOptions): Promise<SeedsSummary> {
  const { count, start, workers, onProgress, onFailure, ...runOptions } = options;
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
  const results: SeedResult[] = [];
  let violations = 0;
  const collect = (batch: SeedResult[]): void => {
    for (const result of batch) {
      if (result.ok) {
        // Keep passing seeds small: only what the summary needs.
        results.push({ ...result, trace: [] });
      } else {
        violations++;
        results.push(result);
        onFailure?.(result);
      }
    }
    onProgress?.(results.length, violations);
  };
  if (workers <= 1 || count <= CHUNK_SEEDS) {
    for (let from = start; from < start + count; from += CHUNK_SEEDS) {
      const batch: SeedResult[] = [];
      for (let seed = from; seed < Math.min(from + CHUNK_SEEDS, start + count); seed++) batch.push(runSeed(seed, runOptions));
      collect(batch);
    }
  } else {
    await runInWorkers(start, count, Math.min(workers, Math.ceil(count / CHUNK_SEEDS)), runOptions, collect);
  }
  return summarize(results);
}

export function summarize(results: readonly SeedResult[]): SeedsSummary {
  const sorted = [...results].sort((a, b) => a.seed - b.seed);
  const failures = sorted.filter((r) => !r.ok);
  let steps = 0;
  for (const r of sorted) steps += r.steps;
  return {
    seeds: sorted.length,
    violations: failures.length,
    steps,
    firstFailingSeed: failures.length > 0 ? failures[0]!.seed : null,
    failures: failures.slice(0, MAX_KEPT_FAILURES),
  };
}

function runInWorkers(
  start: number,
  count: number,
  workerCount: number,
  options: BatchOptions,
  collect: (batch: SeedResult[]) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = start;
    const end = start + count;
    let active = workerCount;
    let failed = false;
    const workers: Worker[] = [];
    const give = (worker: Worker): void => {
      if (next >= end) {
        void worker.terminate();
        if (--active === 0 && !failed) resolve();
        return;
      }
      const request: ChunkRequest = { from: next, to: Math.min(next + CHUNK_SEEDS, end), options };
      next = request.to;
      worker.postMessage(request);
    };
    for (let i = 0; i < workerCount; i++) {
      const worker = new Worker(new URL("./seed-worker.js", import.meta.url));
      workers.push(worker);
      worker.on("message", (reply: ChunkReply) => {
        if (failed) return;
        collect(reply.results);
        give(worker);
      });
      worker.on("error", (error) => {
        if (failed) return;
        failed = true;
        for (const w of workers) void w.terminate();
        reject(error);
      });
      give(worker);
    }
  });
}
