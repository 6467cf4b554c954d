/**
 * One segment file and its in-memory index: the byte offset and term of every
 * record, in growable typed arrays, so a read goes straight to its bytes.
 */
import fs from "node:fs";
import { RaftError } from "../errors.js";
import type { Entry, EntryType } from "../core/types.js";
import { ENTRY_OVERHEAD_BYTES } from "../core/types.js";
import { RECORD_HEADER_BYTES, RECORD_OVERHEAD_BYTES, SEGMENT_HEADER_BYTES, checkRecord, newRecordCheck } from "./segment-format.js";

const INITIAL_CAPACITY = 1024;

export class Segment {
  /** Records held; record i has index firstIndex + i. */
  count = 0;
  /** Bytes of the file in use: header and whole records. */
  sizeBytes = SEGMENT_HEADER_BYTES;
  /** Offsets fit in 32 bits: segments stay below maxSegmentBytes (at most 2 GiB) but for one oversized record. */
  private offsets = new Uint32Array(INITIAL_CAPACITY);
  private terms = new Float64Array(INITIAL_CAPACITY);
  private fd: number | null = null;

  constructor(
    readonly path: string,
    readonly firstIndex: number,
    readonly generation: number,
  ) {}

  lastIndex(): number {
    return this.firstIndex + this.count - 1;
  }

  term(index: number): number {
    return this.terms[index - this.firstIndex]!;
  }

  /** Records the next record, which starts where the used bytes end. */
  push(term: number, recordBytes: number): void {
    if (this.count === this.offsets.length) this.grow();
    this.offsets[this.count] = this.sizeBytes;
    this.terms[this.count] = term;
    this.count++;
    this.sizeBytes += recordBytes;
  }

  /** Forgets the records after `lastIndexKept`; returns the byte length the file must be cut to. */
  truncateAfter(lastIndexKept: number): number {
    const keep = lastIndexKept - this.firstIndex + 1;
    if (keep < this.count) {
      this.sizeBytes = this.offsets[keep]!;
      this.count = keep;
    }
    return this.sizeBytes;
  }

  /** The file descriptor, opened read-write on first use (most old segments are never read again). */
  handle(): number {
    if (this.fd === null) this.fd = fs.openSync(this.path, "r+");
    return this.fd;
  }

  adoptHandle(fd: number): void {
    this.fd = fd;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  /**
   * Entries [lo, hi) (within this segment) with one read; stops before `maxBytes`
   * (counted as the core counts them) would be passed, but returns at least one.
   * Checksums are verified again: a disk can rot after recovery.
   */
  read(lo: number, hi: number, maxBytes: number, out: Entry[], bytesSoFar: number): number {
    const first = lo - this.firstIndex;
    let last = first; // exclusive
    let bytes = bytesSoFar;
    const limit = hi - this.firstIndex;
    while (last < limit) {
      const entryBytes = this.recordEnd(last) - this.offsets[last]! - RECORD_OVERHEAD_BYTES + ENTRY_OVERHEAD_BYTES;
      if (out.length + (last - first) > 0 && bytes + entryBytes > maxBytes) break;
      bytes += entryBytes;
      last++;
    }
    if (last === first) return bytes;
    const start = this.offsets[first]!;
    const buf = Buffer.allocUnsafe(this.recordEnd(last - 1) - start);
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(this.handle(), buf, done, buf.length - done, start + done);
      if (n === 0) throw this.damaged(start + done, "the file ends before the record the index points to");
      done += n;
    }
    const check = newRecordCheck();
    let offset = 0;
    for (let i = first; i < last; i++) {
      checkRecord(buf, offset, buf.length, check);
      const index = this.firstIndex + i;
      if (check.problem !== "" || check.index !== index) throw this.damaged(start + offset, check.problem || `the record holds index ${check.index}, expected ${index}`);
      out.push({ index, term: check.term, type: check.type as EntryType, data: buf.subarray(offset + RECORD_HEADER_BYTES, check.end - 4) });
      offset = check.end;
    }
    return bytes;
  }

  private recordEnd(i: number): number {
    return i + 1 < this.count ? this.offsets[i + 1]! : this.sizeBytes;
  }

  private damaged(offset: number, problem: string): RaftError {
    return new RaftError(
      "ECORRUPT",
      `log segment ${this.path} is damaged at byte offset ${offset}: ${problem}. The disk changed under a running log; ` +
        `stop this node and restore its data folder from a replica, or remove it so the node rejoins empty.`,
    );
  }

  private grow(): void {
    const offsets = new Uint32Array(this.offsets.length * 2);
    offsets.set(this.offsets);
    this.offsets = offsets;
    const terms = new Float64Array(this.terms.length * 2);
    terms.set(this.terms);
    this.terms = terms;
  }
}
