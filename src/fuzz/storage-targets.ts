/**
 * The durable log reopened after damage to one of its files (a segment or the
 * meta file). Reopening must either refuse with ECORRUPT, or open a log whose
 * every entry is the one appended, losing only entries whose records the
 * damage touched: the recovery rule cuts a torn tail, it never drops intact
 * acknowledged entries.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { EntryType, type Entry } from "../core/types.js";
import { RECORD_OVERHEAD_BYTES, SEGMENT_HEADER_BYTES, SEGMENT_SUFFIX } from "../storage/segment-format.js";
import { SegmentLog, type SegmentLogOptions } from "../storage/segment-log.js";
import { comparable, decodeSoundlyAsync, named, newCounts, type FuzzTarget } from "./fuzz-target.js";
import { byteMutator } from "./mutations.js";

/** Small segments: a few entries each, so that a log spans several. */
const MAX_SEGMENT_BYTES = 300;

interface LogContents {
  readonly entries: readonly Entry[];
  /** Where truncatePrefix moved the first index (1: never). */
  readonly firstIndexKept: number;
}

const logContents: fc.Arbitrary<LogContents> = fc
  .tuple(fc.array(fc.tuple(fc.boolean(), fc.constantFrom(EntryType.Normal, EntryType.Config, EntryType.Noop), fc.uint8Array({ maxLength: 60 })), { minLength: 1, maxLength: 30 }), fc.nat())
  .map(([specs, cut]) => {
    let term = 1;
    const entries = specs.map(([nextTerm, type, data], i) => ({ index: i + 1, term: nextTerm ? ++term : term, type, data }));
    return { entries, firstIndexKept: 1 + (cut % entries.length) };
  });

/** Where each record of a segment file lies, by entry index. */
function recordSpans(segment: Buffer): { index: number; start: number; end: number }[] {
  const spans: { index: number; start: number; end: number }[] = [];
  for (let start = SEGMENT_HEADER_BYTES; start < segment.length; ) {
    const end = start + RECORD_OVERHEAD_BYTES + segment.readUInt32LE(start);
    spans.push({ index: segment.readUInt32LE(start + 4), start, end });
    start = end;
  }
  return spans;
}

/** The bytes of `damaged` that differ from `original`: [first, original.length - intactSuffix) of the original. */
function damagedRange(original: Buffer, damaged: Buffer): { first: number; intactFrom: number } {
  const common = Math.min(original.length, damaged.length);
  let first = 0;
  while (first < common && original[first] === damaged[first]) first++;
  let suffix = 0;
  while (suffix < common - first && original[original.length - 1 - suffix] === damaged[damaged.length - 1 - suffix]) suffix++;
  return { first, intactFrom: original.length - suffix };
}

export function segmentLogTarget(): FuzzTarget {
  const counts = newCounts();
  let root = "";
  let logs = 0;
  const options = (warnings: string[]): SegmentLogOptions => ({ maxSegmentBytes: MAX_SEGMENT_BYTES, fsyncMode: "none", logger: { warn: (line) => warnings.push(line) } });

  const reopensSoundly = async (contents: LogContents, fileChoice: number, mutations: readonly unknown[]): Promise<void> => {
    const dir = join(root, `log-${logs++}`);
    try {
      const log = await SegmentLog.open(dir, options([]));
      await log.append(contents.entries);
      if (contents.firstIndexKept > 1) await log.truncatePrefix(contents.firstIndexKept);
      await log.close();
      const names = (await readdir(dir)).sort();
      const name = names[fileChoice % names.length]!;
      const original = await readFile(join(dir, name));
      const damaged = byteMutator.apply(original, mutations, original);
      await writeFile(join(dir, name), damaged);

      const warnings: string[] = [];
      const reopened = await decodeSoundlyAsync(counts, ["ECORRUPT"], () => SegmentLog.open(dir, options(warnings)));
      if (reopened === undefined) return;
      try {
        const lost = new Set(contents.entries.map((entry) => entry.index).filter((index) => index >= contents.firstIndexKept));
        for (let index = reopened.firstIndex(); index <= reopened.lastIndex(); index++) {
          const entry = reopened.entry(index);
          assert.deepStrictEqual(comparable(entry), comparable(contents.entries[index - 1]), `entry ${index} after reopening`);
          lost.delete(index);
        }
        if (name.endsWith(SEGMENT_SUFFIX)) {
          const { first, intactFrom } = damagedRange(original, damaged);
          const intact = recordSpans(original).filter((span) => span.end <= first || span.start >= intactFrom);
          for (const span of intact) {
            assert.ok(!lost.has(span.index), `entry ${span.index}, intact in ${name} (damage at bytes ${first}..${intactFrom}), was dropped at reopening: ${warnings.join(" | ")}`);
          }
        }
      } finally {
        await reopened.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  return {
    name: "segment log reopen",
    counts,
    properties: [named("damaged file", fc.asyncProperty(logContents, fc.nat(), byteMutator.mutations, reopensSoundly))],
    async open() {
      root = await mkdtemp(join(tmpdir(), "tsraft-fuzz-log-"));
    },
    async close() {
      await rm(root, { recursive: true, force: true });
    },
  };
}
