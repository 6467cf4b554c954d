/** The leader's stall watch for snapshot installs: a peer that fetches nothing for stallMs is reported once per offer. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { SnapshotStallWatch } from "../src/node/snapshot-stall-watch.js";

const B = "10.0.0.2:7000";
const C = "10.0.0.3:7000:1";

test("a peer waiting for a snapshot is reported after stallMs without a chunk served to its address, and only then", () => {
  const watch = new SnapshotStallWatch(1000);
  const pending = [
    { peer: B, index: 50 },
    { peer: C, index: 50 },
  ];
  assert.deepEqual(watch.stalled(pending, 0), [], "first seen: the clock starts");
  watch.served("10.0.0.2:7000", 600); // B fetches a chunk
  watch.served("10.0.0.9:7000", 700); // another process: nobody here
  assert.deepEqual(watch.stalled(pending, 999), []);
  assert.deepEqual(watch.stalled(pending, 1000), [C], "C fetched nothing for 1000 ms");
  assert.deepEqual(watch.stalled(pending, 1599), [], "C is watched afresh, B fetched at 600");
  assert.deepEqual(watch.stalled(pending, 1600), [B]);
});

test("a new offer (another index) restarts the clock; a peer no longer waiting is forgotten", () => {
  const watch = new SnapshotStallWatch(1000);
  watch.stalled([{ peer: B, index: 50 }], 0);
  assert.deepEqual(watch.stalled([{ peer: B, index: 80 }], 900), [], "the newer snapshot is watched from now");
  assert.deepEqual(watch.stalled([{ peer: B, index: 80 }], 1800), []);
  assert.deepEqual(watch.stalled([], 1850), [], "B installed it");
  assert.deepEqual(watch.stalled([{ peer: B, index: 80 }], 1900), [], "offered again later: a fresh clock");
  assert.deepEqual(watch.stalled([{ peer: B, index: 80 }], 2900), [B]);
});
