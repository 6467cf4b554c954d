/** Runs fuzz targets (src/fuzz) as node:test tests: a fixed seed and a bounded number of runs, so `npm test` stays fast and repeatable. */
import { after, before, test } from "node:test";
import fc from "fast-check";
import type { RaftErrorCode } from "../../src/errors.js";
import { assertClearRefusal, type FuzzTarget } from "../../src/fuzz/fuzz-target.js";

export const FUZZ_TEST_SEED = 20_240_601;
/** A failure's shrinking stops here: the report then shows the input shrunk so far. */
const MAX_PROPERTY_MS = 30_000;

/** One test per property of `target`; the long runner (src/fuzz/fuzz-run.ts) explores further with other seeds. */
export function fuzzTests(target: FuzzTarget, numRuns: number): void {
  if (target.open !== undefined) before(() => target.open!());
  if (target.close !== undefined) after(() => target.close!());
  for (const { name, property } of target.properties) {
    test(`fuzz ${target.name}: ${name}`, { timeout: 2 * MAX_PROPERTY_MS }, async () => {
      await fc.assert(property, { numRuns, seed: FUZZ_TEST_SEED, includeErrorInReport: true, plugins: [fc.interruptAfterTimeLimit(MAX_PROPERTY_MS)] });
    });
  }
}

/** For assert.throws and assert.rejects: the error is a clear RaftError of one of `codes` (see assertClearRefusal). */
export function clearRefusal(codes: readonly RaftErrorCode[]): (error: unknown) => true {
  return (error) => {
    assertClearRefusal(error, codes);
    return true;
  };
}
