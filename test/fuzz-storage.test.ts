/** Fuzzing the durable log's recovery: a damaged segment or meta file is refused with ECORRUPT, or cut at a torn tail without losing an intact entry; and regressions for what the fuzzing found. */
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { segmentLogTarget } from "../src/fuzz/storage-targets.js";
import { segmentFileName } from "../src/storage/segment-format.js";
import { SegmentLog } from "../src/storage/segment-log.js";
import { clearRefusal, fuzzTests } from "./support/fuzz.js";
import { makeEntries, tempDir } from "./support/segment-log-fixtures.js";

fuzzTests(segmentLogTarget(), 150);

test("a bit flipped in the last segment's header does not drop the entries after it", async () => {
  const dir = tempDir("fuzz-header");
  try {
    const log = await SegmentLog.open(dir, { fsyncMode: "none" });
    await log.append(makeEntries(1, 3, 1));
    await log.close();
    const segment = join(dir, segmentFileName(1));
    const bytes = await readFile(segment);
    bytes[10]! ^= 1; // the header's firstIndex: its checksum no longer matches
    await writeFile(segment, bytes);
    const warnings: string[] = [];
    let reopened: SegmentLog;
    try {
      reopened = await SegmentLog.open(dir, { fsyncMode: "none", logger: { warn: (line) => warnings.push(line) } });
    } catch (error) {
      clearRefusal(["ECORRUPT"])(error); // refusing the damaged log is right too
      return;
    }
    await reopened.close();
    assert.equal(reopened.lastIndex(), 3, `the three acknowledged entries were dropped: ${warnings.join(" | ")}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
