/**
 * `npm run bench:log`: append throughput of SegmentLog with fsync on, beside
 * the raw append+fdatasync rate of the same disk, and the time to reopen a log
 * of 1,000,000 entries. Prints figures, then one JSON line. Works in a temp folder it removes.
 *
 * The raw rate and the batch-1 rates are measured in alternating slices, so a
 * disk that other work slows down slows them alike and their ratio stays honest.
 * Figures are for the default fsyncMode ("inline"); batch 1 is also shown with "thread-pool".
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EntryType, type Entry } from "../core/types.js";
import { SegmentLog } from "../storage/segment-log.js";

const PAYLOAD_BYTES = 256;
const SLICE_MS = 500;
const SLICES = 4;
const RUN_MS = 2000;
const REOPEN_ENTRIES = 1_000_000;
const REOPEN_BATCH = 8192;

interface Rate {
  entries: number;
  fsyncs: number;
  ms: number;
}

const payload = new Uint8Array(PAYLOAD_BYTES).fill(7);

function batch(start: number, count: number): Entry[] {
  const entries: Entry[] = new Array(count);
  for (let i = 0; i < count; i++) entries[i] = { index: start + i, term: 1, type: EntryType.Normal, data: payload };
  return entries;
}

/** 256-byte writes, each followed by fdatasync, on the calling thread: the disk's limit for one durable append at a time. */
function rawSlice(file: string, ms: number, into: Rate): void {
  const fd = fs.openSync(file, "a");
  const buf = Buffer.alloc(PAYLOAD_BYTES, 7);
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) {
    fs.writeSync(fd, buf);
    fs.fdatasyncSync(fd);
    n++;
  }
  into.ms += performance.now() - start;
  into.entries += n;
  into.fsyncs += n;
  fs.closeSync(fd);
}

async function logSlice(log: SegmentLog, batchSize: number, ms: number, into: Rate): Promise<void> {
  const start = performance.now();
  let appends = 0;
  while (performance.now() - start < ms) {
    await log.append(batch(log.lastIndex() + 1, batchSize));
    appends++;
  }
  into.ms += performance.now() - start;
  into.entries += appends * batchSize;
  into.fsyncs += appends;
}

async function timeReopen(dir: string): Promise<{ writeMs: number; reopenMs: number }> {
  const writeStart = performance.now();
  const log = await SegmentLog.open(dir, { cacheBytes: 0 });
  for (let next = 1; next <= REOPEN_ENTRIES; next += REOPEN_BATCH) await log.append(batch(next, Math.min(REOPEN_BATCH, REOPEN_ENTRIES - next + 1)));
  await log.close();
  const writeMs = performance.now() - writeStart;
  const reopenStart = performance.now();
  const reopened = await SegmentLog.open(dir);
  const reopenMs = performance.now() - reopenStart;
  if (reopened.lastIndex() !== REOPEN_ENTRIES) throw new Error(`reopened log ends at ${reopened.lastIndex()}, expected ${REOPEN_ENTRIES}`);
  await reopened.close();
  return { writeMs, reopenMs };
}

const perSec = (count: number, ms: number): number => Math.round((count / ms) * 1000);

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tsraft-log-bench-"));
  try {
    const raw: Rate = { entries: 0, fsyncs: 0, ms: 0 };
    const rates = new Map<number, Rate>();
    const one: Rate = { entries: 0, fsyncs: 0, ms: 0 };
    const oneOffLoop: Rate = { entries: 0, fsyncs: 0, ms: 0 };
    const oneLog = await SegmentLog.open(path.join(root, "batch-1"));
    const offLoopLog = await SegmentLog.open(path.join(root, "batch-1-thread-pool"), { fsyncMode: "thread-pool" });
    for (let slice = 0; slice < SLICES; slice++) {
      rawSlice(path.join(root, "raw.dat"), SLICE_MS, raw);
      await logSlice(oneLog, 1, SLICE_MS, one);
      await logSlice(offLoopLog, 1, SLICE_MS / 2, oneOffLoop);
    }
    await oneLog.close();
    await offLoopLog.close();
    rates.set(1, one);
    for (const batchSize of [16, 256]) {
      const rate: Rate = { entries: 0, fsyncs: 0, ms: 0 };
      const log = await SegmentLog.open(path.join(root, `batch-${batchSize}`));
      await logSlice(log, batchSize, RUN_MS, rate);
      await log.close();
      rates.set(batchSize, rate);
    }
    const rawFsyncPerSec = perSec(raw.fsyncs, raw.ms);
    console.log(`raw append+fdatasync of ${PAYLOAD_BYTES} bytes: ${rawFsyncPerSec} fsyncs/s`);
    const entriesPerSec: Record<string, number> = {};
    const mbPerSec: Record<string, number> = {};
    const fsyncsPerSec: Record<string, number> = {};
    for (const [batchSize, rate] of rates) {
      entriesPerSec[batchSize] = perSec(rate.entries, rate.ms);
      mbPerSec[batchSize] = Math.round((rate.entries * PAYLOAD_BYTES) / 1e6 / (rate.ms / 1000) * 10) / 10;
      fsyncsPerSec[batchSize] = perSec(rate.fsyncs, rate.ms);
      const ratio = ((fsyncsPerSec[batchSize]! / rawFsyncPerSec) * 100).toFixed(0);
      console.log(`batches of ${String(batchSize).padStart(3)}: ${entriesPerSec[batchSize]} entries/s, ${mbPerSec[batchSize]} MB/s of payload, ${fsyncsPerSec[batchSize]} fsyncs/s (${ratio}% of raw)`);
    }
    const offLoop = perSec(oneOffLoop.fsyncs, oneOffLoop.ms);
    console.log(`batches of   1 with fsyncMode "thread-pool" (event loop free during the flush): ${offLoop} fsyncs/s (${((offLoop / rawFsyncPerSec) * 100).toFixed(0)}% of raw)`);
    const { writeMs, reopenMs } = await timeReopen(path.join(root, "reopen"));
    console.log(`log of ${REOPEN_ENTRIES} entries: written in ${writeMs.toFixed(0)} ms, reopened (every checksum verified) in ${reopenMs.toFixed(0)} ms`);
    console.log(JSON.stringify({ entriesPerSec, mbPerSec, fsyncsPerSec, rawFsyncPerSec, reopenMs1M: Math.round(reopenMs) }));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
