/** Shared helpers for the SegmentLog tests: temp folders, entries whose payload is a function of (index, term), a log model. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EntryType, type Entry } from "../../src/core/types.js";
import type { SegmentLog } from "../../src/storage/segment-log.js";

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tsraft-${label}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A payload anyone can recompute from (index, term): a reader can tell a right entry from a stale or garbled one. */
export function payloadFor(index: number, term: number): Uint8Array {
  const bytes = new Uint8Array((index * 7 + term * 3) % 97);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (index + term * 13 + i) & 0xff;
  return bytes;
}

export function makeEntry(index: number, term: number): Entry {
  return { index, term, type: (index + term) % 3 === 0 ? EntryType.Config : EntryType.Normal, data: payloadFor(index, term) };
}

export function makeEntries(first: number, count: number, term: number): Entry[] {
  return Array.from({ length: count }, (_, i) => makeEntry(first + i, term));
}

/** A log as a plain list of terms: terms[i] is the term of index first + i. */
export interface LogModel {
  first: number;
  terms: number[];
}

export function modelLast(model: LogModel): number {
  return model.first + model.terms.length - 1;
}

/** The log's contents as a model, checking every entry against its (index, term) payload on the way. */
export function readModel(log: SegmentLog): LogModel {
  const terms: number[] = [];
  for (let index = log.firstIndex(); index <= log.lastIndex(); index++) {
    const entry = log.entry(index);
    if (entry === undefined) throw new Error(`entry ${index} missing inside [${log.firstIndex()}, ${log.lastIndex()}]`);
    const expected = makeEntry(index, entry.term);
    if (entry.index !== index || entry.type !== expected.type || !Buffer.from(entry.data).equals(Buffer.from(expected.data))) {
      throw new Error(`entry ${index} (term ${entry.term}) does not hold what was appended`);
    }
    if (log.term(index) !== entry.term) throw new Error(`term(${index}) = ${log.term(index)} but the entry says ${entry.term}`);
    terms.push(entry.term);
  }
  return { first: log.firstIndex(), terms };
}

export function warningsInto(list: string[]): { warn(message: string): void } {
  return { warn: (message) => list.push(message) };
}
