/**
 * The simulator has teeth: a core with the commit rule broken, or with the
 * vote check broken, is caught by the seeds `npm test` runs (the 3-node
 * seeds of sim.test.ts). Each test patches one rule out, runs the seeds and
 * restores the code, whatever happens.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Leadership } from "../src/core/leader.js";
import { RaftLog } from "../src/core/raft-log.js";
import { runSeeds } from "../src/sim/index.js";

/** The same seeds as sim.test.ts's 3-node budget. */
const BUDGET = { count: 120, start: 10_000, nodes: 3, workers: 1 } as const;

async function violationsWith(patch: () => () => void): Promise<{ violations: number; kinds: Set<string> }> {
  const restore = patch();
  try {
    const summary = await runSeeds(BUDGET);
    return { violations: summary.violations, kinds: new Set(summary.failures.map((f) => f.violation!.kind)) };
  } finally {
    restore();
  }
}

interface LeadershipInternals {
  host: { id: string; log: RaftLog; configs: { current(): { quorumValue(valueOf: (id: string) => number): number } } };
  progress: Map<string, { match: number }>;
  onCommitAdvanced(): void;
  maybeCommit(): void;
}

test("§5.4.2: committing an older term's entry by counting replicas (Figure 8) is caught by the default seeds", async () => {
  const result = await violationsWith(() => {
    const proto = Leadership.prototype as unknown as LeadershipInternals;
    const original = proto.maybeCommit;
    proto.maybeCommit = function (this: LeadershipInternals): void {
      const log = this.host.log;
      const quorumIndex = this.host.configs.current().quorumValue((id) => (id === this.host.id ? log.stableIndex() : (this.progress.get(id)?.match ?? 0)));
      if (quorumIndex <= log.committed) return; // the check of the entry's term is gone
      log.commitTo(quorumIndex);
      this.onCommitAdvanced();
    };
    return () => {
      proto.maybeCommit = original;
    };
  });
  assert.ok(result.violations > 0, "no seed noticed a leader committing old-term entries by counting");
  assert.ok(result.kinds.has("leader-completeness") || result.kinds.has("state-machine-safety"), `caught as ${[...result.kinds].join(", ")}`);
});

test("§5.4.1: granting votes to candidates whose log is behind is caught by the default seeds", async () => {
  const result = await violationsWith(() => {
    const original = RaftLog.prototype.isUpToDate;
    RaftLog.prototype.isUpToDate = () => true; // the election restriction is gone
    return () => {
      RaftLog.prototype.isUpToDate = original;
    };
  });
  assert.ok(result.violations > 0, "no seed noticed votes for candidates with stale logs");
});
