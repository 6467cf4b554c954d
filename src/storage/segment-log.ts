/**
 * The durable Raft log on segment files (see segment-format.ts for the bytes,
 * segment-recovery.ts for what happens at open).
 *
 * Every call changes the logical log at once (reads see it immediately, from
 * the cache) and queues its physical operation; the returned promise resolves
 * when that operation is durable. Queued appends merge into one write and one
 * fdatasync (group commit) and resolve in order. truncatePrefix runs beside
 * the queue so compaction does not hold appends back.
 */
import { RaftError } from "../errors.js";
import { EntryType, entryBytes, type Entry } from "../core/types.js";
import type { LogStorage } from "./log-storage.js";
import { EntryCache } from "./entry-cache.js";
import { fdatasyncFor, type FsyncMode } from "./fs-sync.js";
import { SegmentFiles } from "./segment-files.js";
import { RECORD_OVERHEAD_BYTES, SEGMENT_HEADER_BYTES } from "./segment-format.js";
import { recoverLog } from "./segment-recovery.js";

export interface SegmentLogOptions {
  /** A segment is rolled before it would pass this size (one record larger than it gets a segment of its own). Default 64 MiB. */
  maxSegmentBytes?: number;
  /** Budget of the cache of recent entries; entries not yet on disk stay cached regardless. Default 64 MiB. */
  cacheBytes?: number;
  /** Where fdatasync runs, or "none" to skip it (see FsyncMode). Default "inline". */
  fsyncMode?: FsyncMode;
  /** Receives the warnings about what recovery repaired. Default: console. */
  logger?: { warn(message: string): void };
}

export const DEFAULT_MAX_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/** Offsets within a segment are 32-bit. */
const MAX_SEGMENT_BYTES_LIMIT = 2 ** 31;
const MAX_PAYLOAD_BYTES = 2 ** 32 - 1 - RECORD_OVERHEAD_BYTES;

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

type Op =
  | { kind: "append"; entries: Entry[]; epoch: number; waiters: Waiter[] }
  | { kind: "truncateSuffix"; lastIndexKept: number; waiters: Waiter[] }
  | { kind: "truncatePrefix"; firstIndexKept: number; waiters: Waiter[] }
  | { kind: "reset"; nextIndex: number; waiters: Waiter[] };

export class SegmentLog implements LogStorage {
  static async open(dir: string, options: SegmentLogOptions = {}): Promise<SegmentLog> {
    const maxSegmentBytes = options.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES;
    const minSegmentBytes = SEGMENT_HEADER_BYTES + RECORD_OVERHEAD_BYTES;
    if (!Number.isSafeInteger(maxSegmentBytes) || maxSegmentBytes < minSegmentBytes || maxSegmentBytes > MAX_SEGMENT_BYTES_LIMIT) {
      throw new RaftError("EINVAL", `maxSegmentBytes must be an integer in [${minSegmentBytes}, ${MAX_SEGMENT_BYTES_LIMIT}], got ${maxSegmentBytes}`);
    }
    const cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) throw new RaftError("EINVAL", `cacheBytes must be a non-negative integer, got ${cacheBytes}`);
    const fsyncMode = options.fsyncMode ?? "inline";
    if (fsyncMode !== "inline" && fsyncMode !== "thread-pool" && fsyncMode !== "none") {
      throw new RaftError("EINVAL", `fsyncMode must be "inline", "thread-pool" or "none", got ${String(fsyncMode)}`);
    }
    const logger = options.logger ?? console;
    const { meta, segments } = await recoverLog(dir, (message) => logger.warn(message));
    const files = new SegmentFiles(dir, maxSegmentBytes, fdatasyncFor(fsyncMode), meta, segments);
    return new SegmentLog(dir, files, meta.firstIndex, files.lastIndex(meta.firstIndex - 1), cacheBytes);
  }

  private readonly cache: EntryCache;
  /** Entries [first, stableIndex] are on disk as they are in the logical log, so the cache may let them go. */
  private stableIndex: number;
  /** Bumped by every logical truncation: an append queued before one must not advance stableIndex. */
  private epoch = 0;
  private readonly queue: Op[] = [];
  private draining: Promise<void> | null = null;
  private compaction: Promise<void> = Promise.resolve();
  private failure: RaftError | null = null;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly dir: string,
    private readonly files: SegmentFiles,
    private first: number,
    private last: number,
    private readonly cacheBytes: number,
  ) {
    this.cache = new EntryCache(last + 1);
    this.stableIndex = last;
  }

  firstIndex(): number {
    return this.first;
  }

  lastIndex(): number {
    return this.last;
  }

  term(index: number): number | undefined {
    if (!(index >= this.first && index <= this.last)) return undefined;
    if (index >= this.cache.firstIndex) return this.cache.get(index)!.term;
    return this.files.term(index);
  }

  entry(index: number): Entry | undefined {
    if (!Number.isInteger(index) || index < this.first || index > this.last) return undefined;
    if (index >= this.cache.firstIndex) return this.cache.get(index);
    const out: Entry[] = [];
    this.files.read(index, index + 1, Infinity, out);
    return out[0];
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < this.first || lo > hi || hi > this.last + 1) {
      throw new RaftError("EINVAL", `entries(${lo}, ${hi}) is outside the log's range [${this.first}, ${this.last + 1}]`);
    }
    const out: Entry[] = [];
    const diskHi = Math.min(hi, this.cache.firstIndex);
    if (lo < diskHi) {
      this.files.read(lo, diskHi, maxBytes, out);
      if (out.length < diskHi - lo) return out;
    }
    let bytes = 0;
    for (const entry of out) bytes += entryBytes(entry);
    for (let index = Math.max(lo, diskHi); index < hi; index++) {
      const entry = this.cache.get(index)!;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  append(entries: readonly Entry[]): Promise<void> {
    const refusal = this.refusal() ?? this.checkAppend(entries);
    if (refusal !== null) return Promise.reject(refusal);
    if (entries.length > 0) {
      const start = entries[0]!.index;
      if (start <= this.last) {
        this.truncateLogically(start - 1);
        this.queue.push({ kind: "truncateSuffix", lastIndexKept: start - 1, waiters: [] });
      }
      for (const entry of entries) this.cache.push(entry);
      this.last = entries.at(-1)!.index;
    }
    return new Promise((resolve, reject) => {
      const tail = this.queue.at(-1);
      if (tail?.kind === "append") {
        for (const entry of entries) tail.entries.push(entry);
        tail.waiters.push({ resolve, reject });
      } else {
        this.queue.push({ kind: "append", entries: entries.slice(), epoch: this.epoch, waiters: [{ resolve, reject }] });
      }
      this.kick();
    });
  }

  truncateSuffix(lastIndexKept: number): Promise<void> {
    const refusal = this.refusal() ?? this.checkIndex("truncateSuffix", lastIndexKept, this.first - 1, this.last);
    if (refusal !== null) return Promise.reject(refusal);
    this.truncateLogically(lastIndexKept);
    return this.enqueue((waiters) => ({ kind: "truncateSuffix", lastIndexKept, waiters }));
  }

  truncatePrefix(firstIndexKept: number): Promise<void> {
    const refusal = this.refusal() ?? this.checkIndex("truncatePrefix", firstIndexKept, this.first, this.last + 1);
    if (refusal !== null) return Promise.reject(refusal);
    if (firstIndexKept === this.first) return Promise.resolve();
    this.first = firstIndexKept;
    if (this.cache.firstIndex < firstIndexKept) this.cache.dropBefore(firstIndexKept);
    return this.enqueue((waiters) => ({ kind: "truncatePrefix", firstIndexKept, waiters }));
  }

  reset(nextIndex: number): Promise<void> {
    const refusal = this.refusal() ?? this.checkIndex("reset", nextIndex, 1, Number.MAX_SAFE_INTEGER);
    if (refusal !== null) return Promise.reject(refusal);
    this.first = nextIndex;
    this.last = nextIndex - 1;
    this.stableIndex = this.last;
    this.cache.clear(nextIndex);
    this.epoch++;
    return this.enqueue((waiters) => ({ kind: "reset", nextIndex, waiters }));
  }

  /** Waits for every queued operation, then closes the files. Later calls fail with ESHUTDOWN. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.draining;
      await this.compaction;
      this.files.close();
    })();
    return this.closing;
  }

  private truncateLogically(lastIndexKept: number): void {
    this.last = lastIndexKept;
    this.cache.truncateAfter(lastIndexKept);
    this.stableIndex = Math.min(this.stableIndex, lastIndexKept);
    this.epoch++;
  }

  private enqueue(make: (waiters: Waiter[]) => Op): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push(make([{ resolve, reject }]));
      this.kick();
    });
  }

  private kick(): void {
    this.draining ??= this.drain();
  }

  private async drain(): Promise<void> {
    for (let op = this.queue.shift(); op !== undefined; op = this.queue.shift()) {
      if (this.failure !== null) {
        settle(op.waiters, this.failure);
        continue;
      }
      try {
        await this.execute(op);
      } catch (err) {
        this.fail(err, op.waiters);
        break;
      }
    }
    this.draining = null;
  }

  private async execute(op: Op): Promise<void> {
    switch (op.kind) {
      case "append": {
        await this.files.append(op.entries);
        const lastWritten = op.entries.at(-1)?.index;
        if (lastWritten !== undefined && op.epoch === this.epoch) this.stableIndex = Math.max(this.stableIndex, lastWritten);
        this.cache.evict(this.cacheBytes, this.stableIndex);
        break;
      }
      case "truncateSuffix":
        await this.compaction;
        await this.files.truncateSuffix(op.lastIndexKept);
        break;
      case "reset":
        await this.compaction;
        await this.files.reset(op.nextIndex);
        break;
      case "truncatePrefix": {
        // Durable once the meta file is; appends go on meanwhile (it never touches the last segment).
        const done = this.compaction.then(() => this.files.truncatePrefix(op.firstIndexKept));
        this.compaction = done.then(
          () => settle(op.waiters, null),
          (err: unknown) => this.fail(err, op.waiters),
        );
        return;
      }
    }
    settle(op.waiters, null);
  }

  /** After a failed write or sync the disk's state is unknown (fsync errors are not retryable): refuse everything until reopened. */
  private fail(err: unknown, waiters: Waiter[]): void {
    this.failure ??= new RaftError(
      "EPERM",
      `the log in ${this.dir} stopped after a failed disk operation (${err instanceof Error ? err.message : String(err)}); close it and open it again, which recovers what is on disk`,
    );
    settle(waiters, err);
    for (let op = this.queue.shift(); op !== undefined; op = this.queue.shift()) settle(op.waiters, this.failure);
  }

  private refusal(): RaftError | null {
    if (this.closing !== null) return new RaftError("ESHUTDOWN", `the log in ${this.dir} is closed`);
    return this.failure;
  }

  private checkIndex(what: string, index: number, min: number, max: number): RaftError | null {
    if (Number.isSafeInteger(index) && index >= min && index <= max) return null;
    return new RaftError("EINVAL", `${what}(${index}) is outside [${min}, ${max}] (the log holds [${this.first}, ${this.last}]); nothing was changed`);
  }

  private checkAppend(entries: readonly Entry[]): RaftError | null {
    if (entries.length === 0) return null;
    const start = entries[0]!.index;
    if (!Number.isSafeInteger(start) || start < this.first || start > this.last + 1) {
      const why = start > this.last + 1 ? "it would leave a gap after the last index" : "it is before the first index (compacted away)";
      return new RaftError("EINVAL", `append starting at index ${start} refused: ${why}; the log holds [${this.first}, ${this.last}]`);
    }
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const problem =
        entry.index !== start + i ? `index ${entry.index} where ${start + i} belongs (entries must be contiguous)`
        : !Number.isSafeInteger(entry.term) || entry.term < 0 ? `term ${entry.term} is not a non-negative safe integer`
        : entry.type !== EntryType.Normal && entry.type !== EntryType.Config && entry.type !== EntryType.Noop ? `unknown entry type ${String(entry.type)}`
        : !(entry.data instanceof Uint8Array) ? "data is not a Uint8Array"
        : entry.data.byteLength > MAX_PAYLOAD_BYTES ? `data of ${entry.data.byteLength} bytes is too large`
        : null;
      if (problem !== null) return new RaftError("EINVAL", `append refused, entry ${i} of the batch: ${problem}; nothing was changed`);
    }
    if (!Number.isSafeInteger(entries.at(-1)!.index)) return new RaftError("EINVAL", "append refused: indexes must stay below 2^53");
    return null;
  }
}

function settle(waiters: readonly Waiter[], err: unknown): void {
  for (const waiter of waiters) {
    if (err === null) waiter.resolve();
    else waiter.reject(err);
  }
}
