/**
 * Recovery at open: a torn, cut, partly zeroed or garbled tail of the last
 * segment is cut off with a warning and every earlier entry is kept; zeros
 * from a record boundary on are the segment's end, as preallocation leaves
 * them. Damage before the tail is ECORRUPT naming the file (and the offset),
 * and nothing is deleted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { crc32c } from "@node-rs/crc32";
import { RaftError } from "../src/errors.js";
import { EntryType } from "../src/core/types.js";
import { SegmentLog } from "../src/storage/segment-log.js";
import { writeLogMeta } from "../src/storage/segment-log-meta.js";
import { RECORD_OVERHEAD_BYTES } from "../src/storage/segment-format.js";
import { makeEntries, makeEntry, modelLast, readModel, removeDir, tempDir, warningsInto } from "./support/segment-log-fixtures.js";

const SEGMENT_BYTES = 600;
const ENTRIES = 40;

/** A closed log of ENTRIES entries over several segments; returns its folder and segment files in order. */
async function writtenLog(): Promise<{ dir: string; segments: string[] }> {
  const dir = tempDir("recovery");
  const log = await SegmentLog.open(dir, { maxSegmentBytes: SEGMENT_BYTES });
  for (let i = 1; i <= ENTRIES; i += 5) await log.append(makeEntries(i, 5, 1));
  await log.close();
  const segments = fs.readdirSync(dir).filter((name) => name.endsWith(".seg")).sort().map((name) => path.join(dir, name));
  assert.ok(segments.length >= 4, `expected several segments, got ${segments.length}`);
  return { dir, segments };
}

async function reopen(dir: string): Promise<{ log: SegmentLog; warnings: string[] }> {
  const warnings: string[] = [];
  const log = await SegmentLog.open(dir, { maxSegmentBytes: SEGMENT_BYTES, logger: warningsInto(warnings) });
  return { log, warnings };
}

/** Opens the damaged log, expecting ECORRUPT whose message has every one of `mentions`; checks no file changed. */
async function expectCorrupt(dir: string, mentions: string[]): Promise<void> {
  const before = snapshotFolder(dir);
  await assert.rejects(reopen(dir), (err: unknown) => {
    assert.ok(err instanceof RaftError && err.code === "ECORRUPT", `expected ECORRUPT, got ${String(err)}`);
    for (const text of mentions) assert.ok(err.message.includes(text), `message should mention ${text}: ${err.message}`);
    assert.match(err.message, /replica|remove it/);
    return true;
  });
  assert.deepEqual(snapshotFolder(dir), before, "nothing may be deleted or changed when the log is refused");
}

function snapshotFolder(dir: string): Map<string, string> {
  return new Map(fs.readdirSync(dir).sort().map((name) => [name, fs.readFileSync(path.join(dir, name)).toString("hex")]));
}

const lastRecordBytes = makeEntry(ENTRIES, 1).data.byteLength + RECORD_OVERHEAD_BYTES;

async function expectTornTail(dir: string, mention: string): Promise<void> {
  const { log, warnings } = await reopen(dir);
  try {
    assert.equal(log.lastIndex(), ENTRIES - 1);
    assert.deepEqual(readModel(log), { first: 1, terms: Array<number>(ENTRIES - 1).fill(1) });
    assert.equal(warnings.length, 1, `one warning expected: ${warnings.join(" | ")}`);
    assert.ok(warnings[0]!.includes(mention) && /cut \d+ bytes at byte offset \d+/.test(warnings[0]!), warnings[0]);
  } finally {
    await log.close();
  }
}

test("a last record cut at any byte is dropped with a warning; every earlier entry stays", async () => {
  const { dir, segments } = await writtenLog();
  const last = segments.at(-1)!;
  const original = fs.readFileSync(last);
  const recordStart = original.length - lastRecordBytes;
  try {
    for (let cut = recordStart + 1; cut < original.length; cut++) {
      fs.writeFileSync(last, original.subarray(0, cut));
      await expectTornTail(dir, path.basename(last));
    }
    fs.writeFileSync(last, original.subarray(0, recordStart));
    const { log, warnings } = await reopen(dir);
    assert.equal(log.lastIndex(), ENTRIES - 1);
    assert.deepEqual(warnings, [], "a cut at a record boundary is a clean end");
    await log.close();
  } finally {
    removeDir(dir);
  }
});

test("zeros from inside the last record on are a torn tail, dropped with a warning; zeros from a record boundary on are the end", async () => {
  const { dir, segments } = await writtenLog();
  const last = segments.at(-1)!;
  const original = fs.readFileSync(last);
  const recordStart = original.length - lastRecordBytes;
  try {
    for (let from = recordStart + 1; from < original.length; from += 3) {
      const damaged = Buffer.concat([original, Buffer.alloc(512)]);
      damaged.fill(0, from);
      fs.writeFileSync(last, damaged);
      await expectTornTail(dir, path.basename(last));
    }
    // What preallocation leaves, or a crash that lost an unflushed append: no warning, nothing lost before it.
    const zeroedRecord = Buffer.concat([original, Buffer.alloc(512)]).fill(0, recordStart);
    fs.writeFileSync(last, zeroedRecord);
    const { log, warnings } = await reopen(dir);
    assert.equal(log.lastIndex(), ENTRIES - 1);
    assert.deepEqual(warnings, []);
    await log.close();
  } finally {
    removeDir(dir);
  }
});

test("preallocation: a large segment is extended 4 MiB ahead of its records, not to its full size", async () => {
  const dir = tempDir("prealloc-step");
  const MIB = 1024 * 1024;
  try {
    const log = await SegmentLog.open(dir, { maxSegmentBytes: 64 * MIB });
    const segmentSize = (): number => fs.statSync(path.join(dir, fs.readdirSync(dir).find((name) => name.endsWith(".seg"))!)).size;
    await log.append([{ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(100) }]);
    const first = segmentSize();
    assert.ok(first > 4 * MIB && first < 4 * MIB + 4096, `one step ahead: ${first}`);
    for (let i = 2; i <= 81; i++) await log.append([{ index: i, term: 1, type: EntryType.Normal, data: new Uint8Array(64 * 1024) }]);
    const grown = segmentSize();
    assert.ok(grown > 6 * MIB && grown < 10 * MIB, `past the first step, the file grew by another (5 MiB written): ${grown}`);
    await log.close();
    assert.ok(segmentSize() < 6 * MIB, "close cuts it back");
  } finally {
    removeDir(dir);
  }
});

test("preallocation: the segment being appended to is extended with zeros, cut back on roll and close, and a crash's zeros reopen cleanly", async () => {
  const dir = tempDir("prealloc");
  const crashed = tempDir("prealloc-crash");
  try {
    const log = await SegmentLog.open(dir, { maxSegmentBytes: SEGMENT_BYTES });
    await log.append(makeEntries(1, 3, 1));
    const sizes = (): number[] => fs.readdirSync(dir).filter((name) => name.endsWith(".seg")).sort().map((name) => fs.statSync(path.join(dir, name)).size);
    assert.deepEqual(sizes(), [SEGMENT_BYTES], "the open segment is extended");
    for (let i = 4; i <= ENTRIES; i += 5) await log.append(makeEntries(i, 5, 1));
    const open = sizes();
    assert.ok(open.length >= 3);
    assert.equal(open.at(-1), SEGMENT_BYTES);
    assert.ok(open.slice(0, -1).every((size) => size < SEGMENT_BYTES), `rolled segments are cut back: ${open.join()}`);
    // A copy taken now is what a kill -9 leaves: the last segment still holds its zeros.
    for (const name of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, name), path.join(crashed, name));
    await log.close();
    assert.ok(sizes().at(-1)! < SEGMENT_BYTES, "close cuts the last segment back to its records");
    const warnings: string[] = [];
    const reopened = await SegmentLog.open(crashed, { maxSegmentBytes: SEGMENT_BYTES, logger: warningsInto(warnings) });
    assert.deepEqual(readModel(reopened), { first: 1, terms: Array<number>(ENTRIES + 3).fill(1) });
    assert.deepEqual(warnings, []);
    await reopened.append(makeEntries(ENTRIES + 4, 1, 2));
    await reopened.close();
    const again = await SegmentLog.open(crashed, { maxSegmentBytes: SEGMENT_BYTES });
    assert.equal(modelLast(readModel(again)), ENTRIES + 4);
    await again.close();
    // A crash between starting a segment and cutting back the one before leaves zeros there too.
    const first = path.join(crashed, fs.readdirSync(crashed).filter((name) => name.endsWith(".seg")).sort()[0]!);
    fs.appendFileSync(first, Buffer.alloc(100));
    const padded = await SegmentLog.open(crashed, { maxSegmentBytes: SEGMENT_BYTES });
    assert.equal(modelLast(readModel(padded)), ENTRIES + 4);
    await padded.close();
    fs.appendFileSync(first, Buffer.concat([Buffer.alloc(100), Buffer.from([1])]));
    await assert.rejects(SegmentLog.open(crashed, { maxSegmentBytes: SEGMENT_BYTES }), (err: unknown) => err instanceof RaftError && err.code === "ECORRUPT");
  } finally {
    removeDir(dir);
    removeDir(crashed);
  }
});

test("a flipped byte anywhere in the last record drops it with a warning", async () => {
  const { dir, segments } = await writtenLog();
  const last = segments.at(-1)!;
  const original = fs.readFileSync(last);
  try {
    for (let at = original.length - lastRecordBytes; at < original.length; at++) {
      const damaged = Buffer.from(original);
      damaged[at] = damaged[at]! ^ 0x20;
      fs.writeFileSync(last, damaged);
      await expectTornTail(dir, path.basename(last));
    }
  } finally {
    removeDir(dir);
  }
});

test("a corrupt record before the tail is ECORRUPT naming the file and the offset, in an earlier segment or the last", async () => {
  const { dir, segments } = await writtenLog();
  try {
    for (const file of [segments[1]!, segments.at(-1)!]) {
      const original = fs.readFileSync(file);
      const damaged = Buffer.from(original);
      damaged[40] = damaged[40]! ^ 0xff; // inside the first record (the header is 28 bytes)
      fs.writeFileSync(file, damaged);
      await expectCorrupt(dir, [file, "byte offset 28"]);
      fs.writeFileSync(file, original);
    }
  } finally {
    removeDir(dir);
  }
});

test("a missing middle segment is ECORRUPT naming the gap", async () => {
  const { dir, segments } = await writtenLog();
  try {
    fs.unlinkSync(segments[2]!);
    await expectCorrupt(dir, [segments[3]!, "missing"]);
  } finally {
    removeDir(dir);
  }
});

test("a wrong magic number is ECORRUPT, even in the last segment", async () => {
  const { dir, segments } = await writtenLog();
  try {
    for (const file of [segments[0]!, segments.at(-1)!]) {
      const original = fs.readFileSync(file);
      fs.writeFileSync(file, Buffer.concat([Buffer.from("NOPE"), original.subarray(4)]));
      await expectCorrupt(dir, [file, "magic"]);
      fs.writeFileSync(file, original);
    }
  } finally {
    removeDir(dir);
  }
});

test("a segment from a future format version is ECORRUPT saying so", async () => {
  const { dir, segments } = await writtenLog();
  try {
    const file = segments[1]!;
    const bytes = fs.readFileSync(file);
    bytes.writeUInt32LE(2, 4);
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, 24)), 24);
    fs.writeFileSync(file, bytes);
    await expectCorrupt(dir, [file, "version 2", "newer"]);
  } finally {
    removeDir(dir);
  }
});

test("a corrupt, future or missing meta file is ECORRUPT naming it", async () => {
  const { dir } = await writtenLog();
  const meta = path.join(dir, "log.meta");
  const original = fs.readFileSync(meta);
  try {
    const flipped = Buffer.from(original);
    flipped[17] = flipped[17]! ^ 1;
    fs.writeFileSync(meta, flipped);
    await expectCorrupt(dir, [meta, "checksum"]);
    const future = Buffer.from(original);
    future.writeUInt32LE(9, 4);
    future.writeUInt32LE(crc32c(future.subarray(0, 24)), 24);
    fs.writeFileSync(meta, future);
    await expectCorrupt(dir, [meta, "version 9"]);
    fs.writeFileSync(meta, original.subarray(0, 10));
    await expectCorrupt(dir, [meta]);
    fs.unlinkSync(meta);
    await expectCorrupt(dir, [meta, "missing"]);
  } finally {
    removeDir(dir);
  }
});

test("a new last segment with a torn header is deleted with a warning", async () => {
  const { dir, segments } = await writtenLog();
  try {
    const torn = path.join(dir, `${String(ENTRIES + 1).padStart(20, "0")}.seg`);
    fs.writeFileSync(torn, fs.readFileSync(segments[0]!).subarray(0, 11));
    const { log, warnings } = await reopen(dir);
    assert.equal(log.lastIndex(), ENTRIES);
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]!.includes(torn) && warnings[0]!.includes("torn"), warnings[0]);
    assert.ok(!fs.existsSync(torn));
    await log.append(makeEntries(ENTRIES + 1, 3, 2));
    await log.close();
  } finally {
    removeDir(dir);
  }
});

test("an interrupted reset (meta written, old segments left) opens as the empty log at the new index", async () => {
  const { dir, segments } = await writtenLog();
  try {
    await writeLogMeta(dir, { generation: 1, firstIndex: 500 });
    const { log, warnings } = await reopen(dir);
    assert.deepEqual([log.firstIndex(), log.lastIndex()], [500, 499]);
    assert.equal(warnings.length, segments.length);
    assert.ok(warnings.every((w) => w.includes("generation 0")));
    await log.append(makeEntries(500, 2, 3));
    await log.close();
    const again = await reopen(dir);
    assert.deepEqual(readModel(again.log), { first: 500, terms: [3, 3] });
    await again.log.close();
  } finally {
    removeDir(dir);
  }
});

test("an interrupted truncatePrefix (meta written, old segments left) finishes at open", async () => {
  const { dir, segments } = await writtenLog();
  try {
    await writeLogMeta(dir, { generation: 0, firstIndex: 30 });
    const { log, warnings } = await reopen(dir);
    assert.deepEqual([log.firstIndex(), log.lastIndex()], [30, ENTRIES]);
    assert.ok(warnings.length >= 1 && warnings.every((w) => w.includes("before the log's first index 30")));
    assert.ok(fs.readdirSync(dir).filter((n) => n.endsWith(".seg")).length < segments.length);
    assert.equal(modelLast(readModel(log)), ENTRIES);
    await log.close();
  } finally {
    removeDir(dir);
  }
});
