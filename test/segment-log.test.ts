/** SegmentLog basics: arguments, ordering, segment rolling and compaction, reads from disk, shutdown. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { RaftError } from "../src/errors.js";
import { EntryType, type Entry } from "../src/core/types.js";
import { SegmentLog } from "../src/storage/segment-log.js";
import { makeEntries, makeEntry, readModel, removeDir, tempDir, warningsInto } from "./support/segment-log-fixtures.js";

async function withLog(options: Parameters<typeof SegmentLog.open>[1], body: (log: SegmentLog, dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir("basics");
  const log = await SegmentLog.open(dir, options);
  try {
    await body(log, dir);
  } finally {
    await log.close();
    removeDir(dir);
  }
}

const isCode = (code: string) => (err: unknown) => err instanceof RaftError && err.code === code;
const segmentFiles = (dir: string): string[] => fs.readdirSync(dir).filter((name) => name.endsWith(".seg")).sort();

test("a new log is empty at 1; entries are readable at once and after reopening", async () => {
  await withLog({}, async (log, dir) => {
    assert.deepEqual([log.firstIndex(), log.lastIndex(), log.term(1), log.entry(1)], [1, 0, undefined, undefined]);
    const appended = log.append(makeEntries(1, 10, 3));
    assert.equal(log.lastIndex(), 10, "the logical log changes at the call");
    assert.equal(log.term(7), 3);
    await appended;
    await log.close();
    const again = await SegmentLog.open(dir);
    assert.deepEqual(readModel(again), { first: 1, terms: Array<number>(10).fill(3) });
    await again.close();
  });
});

test("bad arguments are EINVAL and leave the log unchanged", async () => {
  await withLog({ maxSegmentBytes: 300 }, async (log) => {
    await log.append(makeEntries(1, 10, 1));
    const before = readModel(log);
    await assert.rejects(log.append(makeEntries(12, 1, 1)), isCode("EINVAL"), "a gap");
    await assert.rejects(log.append([makeEntry(11, 1), makeEntry(13, 1)]), isCode("EINVAL"), "not contiguous");
    await assert.rejects(log.append([makeEntry(5, 2), { ...makeEntry(6, 2), term: -1 }]), isCode("EINVAL"), "a bad term, after a conflict that must not apply");
    await assert.rejects(log.truncateSuffix(11), isCode("EINVAL"));
    await assert.rejects(log.truncatePrefix(12), isCode("EINVAL"));
    await log.truncatePrefix(4);
    await assert.rejects(log.truncateSuffix(2), isCode("EINVAL"), "below the first index - 1");
    await assert.rejects(log.append(makeEntries(3, 1, 1)), isCode("EINVAL"), "before the first index");
    await assert.rejects(log.reset(0), isCode("EINVAL"));
    await assert.rejects(log.truncatePrefix(2.5), isCode("EINVAL"));
    assert.throws(() => log.entries(2, 5, 100), isCode("EINVAL"));
    assert.deepEqual(readModel(log), { first: 4, terms: before.terms.slice(3) });
  });
  await assert.rejects(SegmentLog.open("/nonexistent/never-created", { maxSegmentBytes: 10 }), isCode("EINVAL"));
});

test("concurrent appends resolve in order (group commit)", async () => {
  await withLog({}, async (log) => {
    const order: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) all.push(log.append(makeEntries(i * 3 + 1, 3, 1)).then(() => void order.push(i)));
    await Promise.all(all);
    assert.deepEqual(order, Array.from({ length: 50 }, (_, i) => i));
    assert.equal(log.lastIndex(), 150);
  });
});

test("segments roll at maxSegmentBytes, are named by their first index, and truncatePrefix deletes only whole ones", async () => {
  await withLog({ maxSegmentBytes: 400 }, async (log, dir) => {
    for (let i = 1; i <= 100; i += 10) await log.append(makeEntries(i, 10, 1));
    const names = segmentFiles(dir);
    assert.ok(names.length > 5, `expected many segments, got ${names.length}`);
    assert.equal(names[0], "00000000000000000001.seg");
    for (const name of names) assert.ok(fs.statSync(`${dir}/${name}`).size <= 400);
    await log.truncatePrefix(50);
    const kept = segmentFiles(dir);
    assert.ok(kept.length < names.length && Number(kept[0]!.slice(0, 20)) <= 50 && Number(kept[1]!.slice(0, 20)) > 50, kept.join());
    assert.deepEqual([log.firstIndex(), log.term(49), log.entry(49)], [50, undefined, undefined]);
    await log.truncatePrefix(101);
    assert.deepEqual([log.firstIndex(), log.lastIndex()], [101, 100]);
    assert.equal(segmentFiles(dir).length, 1, "the last segment stays for appends");
    await log.append(makeEntries(101, 2, 2));
    assert.deepEqual(readModel(log), { first: 101, terms: [2, 2] });
  });
});

test("entries evicted from the cache are read back from disk; a conflicting append replaces the suffix", async () => {
  await withLog({ maxSegmentBytes: 1000, cacheBytes: 200 }, async (log) => {
    await log.append(makeEntries(1, 80, 1));
    await log.append(makeEntries(41, 5, 2));
    assert.deepEqual(readModel(log), { first: 1, terms: [...Array<number>(40).fill(1), ...Array<number>(5).fill(2)] });
    assert.equal(log.entries(1, 46, Infinity).length, 45);
  });
});

test("reset empties the log to continue at any index, and survives reopening", async () => {
  await withLog({ maxSegmentBytes: 300 }, async (log, dir) => {
    await log.append(makeEntries(1, 30, 1));
    await log.reset(1000);
    assert.deepEqual([log.firstIndex(), log.lastIndex(), log.term(5)], [1000, 999, undefined]);
    assert.deepEqual(segmentFiles(dir), []);
    await log.append(makeEntries(1000, 3, 4));
    await log.close();
    const again = await SegmentLog.open(dir, { maxSegmentBytes: 300 });
    assert.deepEqual(readModel(again), { first: 1000, terms: [4, 4, 4] });
    await again.close();
  });
});

test("a closed log refuses calls with ESHUTDOWN; close waits for pending appends", async () => {
  const dir = tempDir("close");
  const log = await SegmentLog.open(dir);
  const pending = log.append(makeEntries(1, 5, 1));
  await log.close();
  await pending;
  await assert.rejects(log.append(makeEntries(6, 1, 1)), isCode("ESHUTDOWN"));
  const again = await SegmentLog.open(dir);
  assert.equal(again.lastIndex(), 5);
  await again.close();
  removeDir(dir);
});

test("a segment left holding only entries before the first index goes when the log rolls past it", async () => {
  // Found by the model test: truncatePrefix keeps the last segment, and a later roll must not leave it for recovery.
  const dir = tempDir("roll-after-prefix");
  const warnings: string[] = [];
  const open = (): Promise<SegmentLog> => SegmentLog.open(dir, { maxSegmentBytes: 300, cacheBytes: 0, logger: warningsInto(warnings) });
  let log = await open();
  try {
    await log.append(makeEntries(1, 23, 1));
    await log.truncatePrefix(24);
    await log.close();
    log = await open();
    await log.append(makeEntries(24, 1, 2));
    await log.close();
    log = await open();
    assert.deepEqual(readModel(log), { first: 24, terms: [2] });
    assert.deepEqual(warnings, [], "a clean close leaves nothing to repair");
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.endsWith(".seg")), ["00000000000000000024.seg"]);
  } finally {
    await log.close();
    removeDir(dir);
  }
});

test("logs appending side by side (their records are encoded in one shared buffer) each read back their own entries, small batches and large", async () => {
  const dirs = [tempDir("shared-a"), tempDir("shared-b")];
  try {
    const logs = await Promise.all(dirs.map((dir) => SegmentLog.open(dir)));
    const large = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(1536 * 1024).fill(index) });
    const appends: Promise<void>[] = [];
    let next = 1;
    for (const count of [1, 50, 3, 500, 2]) {
      appends.push(logs[0]!.append(makeEntries(next, count, 2)), logs[1]!.append(makeEntries(next, count, 3)));
      next += count;
    }
    appends.push(logs[0]!.append([large(next, 2)]), logs[1]!.append([large(next, 3), ...makeEntries(next + 1, 4, 3)]));
    await Promise.all(appends);
    await Promise.all(logs.map((log) => log.close()));
    const reopened = await Promise.all(dirs.map((dir) => SegmentLog.open(dir, { cacheBytes: 0 })));
    const sameAs = (log: SegmentLog, index: number, term: number): boolean => {
      const [read, written] = [log.entry(index)!, makeEntry(index, term)];
      return read.term === term && read.type === written.type && Buffer.from(read.data).equals(Buffer.from(written.data));
    };
    for (const [i, log] of reopened.entries()) {
      const term = i === 0 ? 2 : 3;
      for (let index = 1; index < next; index++) assert.ok(sameAs(log, index, term), `log ${i}, entry ${index}`);
      const big = log.entry(next)!;
      assert.equal(big.data.byteLength, 1536 * 1024);
      assert.ok(big.data.every((byte) => byte === (next & 0xff)), `log ${i}: the large entry reads back whole`);
    }
    assert.deepEqual([reopened[0]!.lastIndex(), reopened[1]!.lastIndex()], [next, next + 4]);
    for (let index = next + 1; index <= next + 4; index++) assert.ok(sameAs(reopened[1]!, index, 3), `log 1, entry ${index}`);
    await Promise.all(reopened.map((log) => log.close()));
  } finally {
    for (const dir of dirs) removeDir(dir);
  }
});
