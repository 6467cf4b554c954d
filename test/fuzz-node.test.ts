/** Fuzzing the node's decoders: CLI requests and answers, snapshot copy requests, snapshot manifests, configuration entries; and what the fuzzing found. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeConfState } from "../src/core/configuration.js";
import { chunkRequestTarget, cliAnswerTarget, cliRequestTarget, confStateTarget, manifestRequestTarget, snapshotManifestTarget } from "../src/fuzz/node-targets.js";
import { clearRefusal, fuzzTests } from "./support/fuzz.js";

fuzzTests(cliRequestTarget(), 1000);
fuzzTests(cliAnswerTarget(), 1000);
fuzzTests(manifestRequestTarget(), 1000);
fuzzTests(chunkRequestTarget(), 1000);
fuzzTests(snapshotManifestTarget(), 1000);
fuzzTests(confStateTarget(), 1000);

test("a configuration entry holding JSON null is ECORRUPT", () => {
  assert.throws(() => decodeConfState(Buffer.from("null")), clearRefusal(["ECORRUPT"]));
});
