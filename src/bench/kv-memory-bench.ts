/**
 * `npm run bench:kv-memory`: the memory the KV state machine takes for its
 * data, alone in this process. It loads `--keys` keys of 16 bytes with values
 * of `--value-bytes`, then overwrites random keys `--overwrites` times, in
 * batches of 256 puts applied as log entries; after each stage a full gc, then
 * the heap and the buffers used beyond what the process held before. The
 * watch history keeps `--watch-events` events (1 leaves the data alone).
 * Prints figures, then one JSON line.
 */
import { Command } from "commander";
import { wholeNumberFlag } from "../bin/flag-parser.js";
import { EntryType, type Entry } from "../core/types.js";
import { MAX_VALUE_BYTES, type WriteCall } from "../kv/commands.js";
import { MAX_WATCH_HISTORY_EVENTS } from "../kv/kv-validation.js";
import { encodeWriteBatch } from "../kv/kv-codec.js";
import { KvStateMachine } from "../kv/kv-state-machine.js";
import { BatchIterator } from "../node/apply-iterator.js";
import { benchKey, KEY_BYTES } from "./kv/workload.js";

const BATCH_CALLS = 256;
const CLIENT_ID = "kv-memory-bench";

interface Args {
  keys: number;
  overwrites: number;
  valueBytes: number;
  watchEvents: number;
}

interface Usage {
  heapMb: number;
  buffersMb: number;
  bytesPerKey: number;
}

function parseArgs(): Args {
  return new Command("kv-memory-bench")
    .description("the KV state machine's memory for its data, after a load and after random overwrites")
    .option("--keys <n>", "keys loaded", wholeNumberFlag("--keys", 1, Number.MAX_SAFE_INTEGER), 100_000)
    .option("--overwrites <n>", "random overwrites after the load", wholeNumberFlag("--overwrites", 1, Number.MAX_SAFE_INTEGER), 512_000)
    .option("--value-bytes <n>", "bytes per value", wholeNumberFlag("--value-bytes", 1, MAX_VALUE_BYTES), 256)
    .option("--watch-events <n>", "events the watch history keeps", wholeNumberFlag("--watch-events", 1, MAX_WATCH_HISTORY_EVENTS), 1)
    .parse()
    .opts<Args>();
}

function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with node --expose-gc (npm run bench:kv-memory does)");
  gc();
}

function used(): { heap: number; buffers: number } {
  fullGc();
  const memory = process.memoryUsage();
  return { heap: memory.heapUsed, buffers: memory.arrayBuffers };
}

function main(): void {
  const args = parseArgs();
  const value = Buffer.alloc(args.valueBytes, 97);
  const before = used();
  const machine = new KvStateMachine({ watchHistory: { maxEvents: args.watchEvents } });
  let index = 0;
  let seq = 0;
  const apply = (keys: readonly number[]): void => {
    const calls: WriteCall[] = keys.map((n) => {
      seq++;
      return { kind: "write", clientId: CLIENT_ID, seq, firstUnackedSeq: seq, op: { type: "put", key: benchKey(n), value } };
    });
    const entry: Entry = { index: ++index, term: 1, type: EntryType.Normal, data: encodeWriteBatch({ timeMs: 1, calls }) };
    machine.onApply(new BatchIterator([entry], [null]));
  };
  const usage = (): Usage => {
    const now = used();
    const heap = now.heap - before.heap;
    const buffers = now.buffers - before.buffers;
    return { heapMb: Math.round(heap / 2 ** 20), buffersMb: Math.round(buffers / 2 ** 20), bytesPerKey: Math.round((heap + buffers) / args.keys) };
  };
  for (let first = 0; first < args.keys; first += BATCH_CALLS) apply(Array.from({ length: Math.min(BATCH_CALLS, args.keys - first) }, (_, i) => first + i));
  const loaded = usage();
  console.log(`loaded ${args.keys} keys of ${KEY_BYTES} bytes with ${args.valueBytes}-byte values: heap ${loaded.heapMb} MB, buffers ${loaded.buffersMb} MB, ${loaded.bytesPerKey} bytes per key`);
  for (let done = 0; done < args.overwrites; done += BATCH_CALLS) {
    apply(Array.from({ length: Math.min(BATCH_CALLS, args.overwrites - done) }, () => Math.floor(Math.random() * args.keys)));
  }
  const overwritten = usage();
  console.log(`after ${args.overwrites} random overwrites: heap ${overwritten.heapMb} MB, buffers ${overwritten.buffersMb} MB, ${overwritten.bytesPerKey} bytes per key`);
  if (machine.stats().keys !== args.keys) throw new Error(`the store holds ${machine.stats().keys} keys, expected ${args.keys}`);
  console.log(JSON.stringify({ keys: args.keys, valueBytes: args.valueBytes, watchEvents: args.watchEvents, loaded, overwritten }));
}

main();
