/**
 * Property tests: any sequence of appends (including conflicting overwrites,
 * §5.3 log matching), truncateSuffix, truncatePrefix, reset and close+reopen
 * leaves the log the simple in-memory model says, with segments small enough
 * to roll every few entries and a cache small enough that reads go to disk.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SegmentLog, type SegmentLogOptions } from "../src/storage/segment-log.js";
import { makeEntries, modelLast, readModel, removeDir, tempDir, warningsInto, type LogModel } from "./support/segment-log-fixtures.js";

type Command =
  | { kind: "append"; back: number; count: number; bumpTerm: boolean; awaitIt: boolean }
  | { kind: "truncateSuffix"; fraction: number }
  | { kind: "truncatePrefix"; fraction: number }
  | { kind: "reset"; offset: number }
  | { kind: "reopen" };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("append" as const), back: fc.nat(12), count: fc.integer({ min: 1, max: 25 }), bumpTerm: fc.boolean(), awaitIt: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("truncateSuffix" as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("truncatePrefix" as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reset" as const), offset: fc.integer({ min: -10, max: 30 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

const pick = (lo: number, hi: number, fraction: number): number => lo + Math.floor(fraction * (hi - lo + 1 - 1e-9));

async function runCommands(commands: readonly Command[], options: SegmentLogOptions): Promise<void> {
  const dir = tempDir("model");
  const warnings: string[] = [];
  const open = (): Promise<SegmentLog> => SegmentLog.open(dir, { ...options, logger: warningsInto(warnings) });
  let log = await open();
  let model: LogModel = { first: 1, terms: [] };
  let term = 1;
  const pending: Promise<void>[] = [];
  try {
    for (const c of commands) {
      const last = modelLast(model);
      switch (c.kind) {
        case "append": {
          const first = Math.max(model.first, last + 1 - c.back);
          if (c.bumpTerm || first <= last) term++;
          const done = log.append(makeEntries(first, c.count, term));
          model = { first: model.first, terms: [...model.terms.slice(0, first - model.first), ...Array<number>(c.count).fill(term)] };
          if (c.awaitIt) await done;
          else pending.push(done);
          break;
        }
        case "truncateSuffix": {
          const keep = pick(model.first - 1, last, c.fraction);
          pending.push(log.truncateSuffix(keep));
          model = { first: model.first, terms: model.terms.slice(0, keep - model.first + 1) };
          break;
        }
        case "truncatePrefix": {
          const keep = pick(model.first, last + 1, c.fraction);
          pending.push(log.truncatePrefix(keep));
          model = { first: keep, terms: model.terms.slice(keep - model.first) };
          break;
        }
        case "reset": {
          const next = Math.max(1, last + 1 + c.offset);
          pending.push(log.reset(next));
          model = { first: next, terms: [] };
          break;
        }
        case "reopen":
          await Promise.all(pending.splice(0));
          await log.close();
          log = await open();
          break;
      }
      assert.deepEqual(readModel(log), model);
    }
    await Promise.all(pending.splice(0));
    await log.close();
    log = await open();
    assert.deepEqual(readModel(log), model);
    assert.deepEqual(warnings, [], "a clean close leaves nothing to repair");
  } finally {
    await log.close();
    removeDir(dir);
  }
}

for (const fsyncMode of ["inline", "thread-pool"] as const) {
  test(`any sequence of appends, truncations, resets and reopens matches the model (fsyncMode ${fsyncMode})`, { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 3000 }), async (commands, cacheBytes) => {
        await runCommands(commands, { maxSegmentBytes: 300, cacheBytes, fsyncMode });
      }),
      { numRuns: fsyncMode === "inline" ? 60 : 25 },
    );
  });
}

test("entries() honours maxBytes across segments and the cache, and returns at least one entry", async () => {
  const dir = tempDir("ranges");
  const log = await SegmentLog.open(dir, { maxSegmentBytes: 400, cacheBytes: 500 });
  try {
    await log.append(makeEntries(1, 60, 1));
    const all = log.entries(1, 61, Infinity);
    assert.deepEqual(all.map((e) => e.index), Array.from({ length: 60 }, (_, i) => i + 1));
    for (const maxBytes of [0, 1, 50, 200, 1000]) {
      for (const lo of [1, 7, 30, 59]) {
        const got = log.entries(lo, 61, maxBytes);
        let bytes = 0;
        let expected = 0;
        for (const e of all.slice(lo - 1)) {
          bytes += e.data.byteLength + 24;
          if (expected > 0 && bytes > maxBytes) break;
          expected++;
        }
        assert.equal(got.length, expected, `entries(${lo}, 61, ${maxBytes})`);
        assert.deepEqual(got.map((e) => e.index), all.slice(lo - 1, lo - 1 + expected).map((e) => e.index));
      }
    }
  } finally {
    await log.close();
    removeDir(dir);
  }
});
