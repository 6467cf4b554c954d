/**
 * The segment files of one log as they are on disk, and the physical
 * operations on them. Every operation leaves a log that recovery accepts if
 * the process dies at any point inside it. SegmentLog runs them one at a time,
 * except compaction, which only touches segments before the last.
 *
 * The segment being appended to is extended ahead of its records, 4 MiB at a
 * time (sparse; recovery reads the zeros after the last record as its end).
 * Most appends then write inside the file, so their fdatasync need not also
 * journal a new file size. The step bounds the zeros a restart after a crash
 * reads. A segment is cut back to its records when the
 * next one starts and when the log closes.
 */
import fs from "node:fs";
import path from "node:path";
import type { Entry } from "../core/types.js";
import { DATA_FILE_MODE, fsyncDir } from "./atomic-file.js";
import { writeFullySync } from "./fs-sync.js";
import { Segment } from "./segment.js";
import { encodeRecord, encodeSegmentHeader, recordBytes, segmentFileName } from "./segment-format.js";
import { writeLogMeta, type LogMeta } from "./segment-log-meta.js";

/** How far ahead of its records the segment being appended to is extended. */
const PREALLOCATION_STEP_BYTES = 4 * 1024 * 1024;
/** Batches up to this size are encoded in one buffer shared by every log of the process. */
const MAX_SHARED_ENCODE_BYTES = 1024 * 1024;

/**
 * Where a batch's records are encoded before their write. The write is
 * synchronous, so one buffer serves every log of the process: an append then
 * allocates nothing, and leaves the GC no large buffer to account for.
 */
let sharedEncodeBuffer = new Uint8Array(0);

function encodeBuffer(bytes: number): Uint8Array {
  if (bytes > MAX_SHARED_ENCODE_BYTES) return new Uint8Array(bytes);
  if (sharedEncodeBuffer.length < bytes) sharedEncodeBuffer = new Uint8Array(Math.min(MAX_SHARED_ENCODE_BYTES, Math.max(bytes, 2 * sharedEncodeBuffer.length)));
  return sharedEncodeBuffer.subarray(0, bytes);
}

export class SegmentFiles {
  /** The file size of the last segment, preallocated space included. */
  private lastFileBytes = 0;
  private generation: number;
  /** The durable logical first index: whole segments before it are garbage. */
  private firstIndex: number;

  constructor(
    private readonly dir: string,
    private readonly maxSegmentBytes: number,
    private readonly sync: (fd: number) => Promise<void>,
    meta: LogMeta,
    private segments: Segment[],
  ) {
    this.generation = meta.generation;
    this.firstIndex = meta.firstIndex;
    // At most what is there (a crash may have left preallocated zeros): the next append extends it.
    this.lastFileBytes = segments.at(-1)?.sizeBytes ?? 0;
  }

  /** The last index on disk, or `fallback` when there are no segments. */
  lastIndex(fallback: number): number {
    const last = this.segments.at(-1);
    return last === undefined ? fallback : last.lastIndex();
  }

  term(index: number): number | undefined {
    const segment = this.find(index);
    return segment === undefined ? undefined : segment.term(index);
  }

  /** Entries [lo, hi) from disk, one read per segment touched; see Segment.read for maxBytes. */
  read(lo: number, hi: number, maxBytes: number, out: Entry[]): void {
    let bytes = 0;
    let index = lo;
    while (index < hi) {
      const segment = this.find(index);
      if (segment === undefined) throw new Error(`no segment holds index ${index}`);
      const before = out.length;
      bytes = segment.read(index, Math.min(hi, segment.lastIndex() + 1), maxBytes, out, bytes);
      if (out.length === before) return;
      index += out.length - before;
      if (index <= segment.lastIndex()) return; // stopped by maxBytes
    }
  }

  /**
   * Appends entries (entries[0] follows the last record on disk) with one write
   * per segment touched and then one fdatasync per file, all in parallel. A
   * segment is rolled before it would pass maxSegmentBytes; a new segment's
   * header is synced with its first records, and the folder is synced so the
   * new file survives a crash.
   */
  async append(entries: readonly Entry[]): Promise<void> {
    const synced: Promise<void>[] = [];
    let created = false;
    let from = 0;
    while (from < entries.length) {
      let segment = this.segments.at(-1);
      if (segment === undefined || (segment.count > 0 && segment.sizeBytes + recordBytes(entries[from]!) > this.maxSegmentBytes)) {
        if (segment !== undefined) trimToRecords(segment);
        segment = this.create(entries[from]!.index);
        created = true;
        // The segment we rolled from may hold only entries a truncatePrefix left behind.
        this.dropSegmentsBefore(this.firstIndex);
      }
      // Whole records up to the segment's limit, but at least one (a record larger than a segment gets one of its own).
      let to = from;
      let bytes = 0;
      while (to < entries.length && (to === from || segment.sizeBytes + bytes + recordBytes(entries[to]!) <= this.maxSegmentBytes)) {
        bytes += recordBytes(entries[to]!);
        to++;
      }
      const buf = encodeBuffer(bytes);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let offset = 0;
      for (let i = from; i < to; i++) offset = encodeRecord(view, buf, offset, entries[i]!);
      this.preallocate(segment, segment.sizeBytes + bytes);
      const fd = segment.handle();
      // The write only copies into the page cache (microseconds); the fdatasync is what waits for the disk.
      writeFullySync(fd, buf, segment.sizeBytes);
      for (let i = from; i < to; i++) segment.push(entries[i]!.term, recordBytes(entries[i]!));
      synced.push(this.sync(fd));
      from = to;
    }
    if (created) synced.push(fsyncDir(this.dir));
    await Promise.all(synced);
  }

  /** Deletes later segments from the last backwards, syncs the folder, then cuts the containing file and syncs it. */
  async truncateSuffix(lastIndexKept: number): Promise<void> {
    let deleted = false;
    for (let last = this.segments.at(-1); last !== undefined && last.firstIndex > lastIndexKept; last = this.segments.at(-1)) {
      last.close();
      await fs.promises.unlink(last.path);
      this.segments.pop();
      deleted = true;
    }
    if (deleted) await fsyncDir(this.dir);
    const last = this.segments.at(-1);
    if (last === undefined || last.lastIndex() <= lastIndexKept) return;
    const fd = last.handle();
    fs.ftruncateSync(fd, last.truncateAfter(lastIndexKept));
    this.lastFileBytes = last.sizeBytes;
    await this.sync(fd);
  }

  /**
   * Records the new first index durably, then deletes whole segments before it
   * (never the last, which appends may be using). A crash between the two leaves
   * segments that recovery deletes.
   */
  async truncatePrefix(firstIndexKept: number): Promise<void> {
    await writeLogMeta(this.dir, { generation: this.generation, firstIndex: firstIndexKept });
    this.firstIndex = firstIndexKept;
    this.dropSegmentsBefore(firstIndexKept);
  }

  /**
   * Deletes the segments whose entries all come before `firstIndex`, never the
   * last. Synchronous, so appends (which only push at the end) never interleave.
   */
  private dropSegmentsBefore(firstIndex: number): void {
    while (this.segments.length > 1 && this.segments[1]!.firstIndex <= firstIndex) {
      const gone = this.segments.shift()!;
      gone.close();
      fs.unlinkSync(gone.path);
    }
  }

  /**
   * Empties the log, to continue at nextIndex. The meta file's new generation
   * is the commit point: before its rename the old log stands, after it
   * recovery deletes whatever old-generation segment is left.
   */
  async reset(nextIndex: number): Promise<void> {
    await writeLogMeta(this.dir, { generation: this.generation + 1, firstIndex: nextIndex });
    this.generation++;
    this.firstIndex = nextIndex;
    for (const segment of this.segments) {
      segment.close();
      await fs.promises.unlink(segment.path);
    }
    this.segments = [];
    // A new segment may reuse an old one's name; the deletions must be durable before it is created.
    await fsyncDir(this.dir);
  }

  close(): void {
    const last = this.segments.at(-1);
    try {
      if (last !== undefined) trimToRecords(last);
    } catch {
      // Only tidiness: recovery reads the zeros left as the end. Closing must not fail for it.
    }
    for (const segment of this.segments) segment.close();
  }

  private create(firstIndex: number): Segment {
    const segment = new Segment(path.join(this.dir, segmentFileName(firstIndex)), firstIndex, this.generation);
    const fd = fs.openSync(segment.path, "wx+", DATA_FILE_MODE);
    segment.adoptHandle(fd);
    writeFullySync(fd, encodeSegmentHeader(firstIndex, this.generation), 0);
    this.lastFileBytes = segment.sizeBytes;
    this.segments.push(segment);
    return segment;
  }

  /** Makes the last segment's file reach `end`, a step ahead when there is room (see the file comment). */
  private preallocate(segment: Segment, end: number): void {
    if (end <= this.lastFileBytes) return;
    this.lastFileBytes = Math.max(end, Math.min(this.maxSegmentBytes, segment.sizeBytes + PREALLOCATION_STEP_BYTES));
    fs.ftruncateSync(segment.handle(), this.lastFileBytes);
  }

  /** The segment holding `index` (binary search over first indexes). */
  private find(index: number): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const segment = this.segments[mid]!;
      if (index < segment.firstIndex) hi = mid - 1;
      else if (index > segment.lastIndex()) lo = mid + 1;
      else return segment;
    }
    return undefined;
  }
}

/** Cuts a segment no longer appended to back to its records. Not synced: a crash leaves zeros, which recovery accepts. */
function trimToRecords(segment: Segment): void {
  fs.ftruncateSync(segment.handle(), segment.sizeBytes);
}
