import { test } from "node:test";
import assert from "node:assert/strict";
import { TestCluster } from "./support/cluster.js";

test("three nodes elect a leader and commit a proposal", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.tick(["a", "b", "c"], 10);
  c.elect("a");
  assert.equal(c.leader(), "a");
  c.propose("a", "x");
  for (const id of ["a", "b", "c"]) assert.deepEqual(c.appliedTexts(id), ["x"]);
});
