/** Fuzzing the command line's parsers: server lists and the YAML config file of `tsraft serve`; and regressions for what the fuzzing found. */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readServeConfig } from "../src/bin/serve-config.js";
import { peerListTarget, serveConfigTarget } from "../src/fuzz/config-targets.js";
import { clearRefusal, fuzzTests } from "./support/fuzz.js";

fuzzTests(peerListTarget(), 1500);
fuzzTests(serveConfigTarget(), 150);

for (const [what, yaml] of [
  ["a value that contains itself (a YAML alias cycle)", "join: &a [*a]\n"],
  ["a 10 KB value of the wrong type", `initial-server-list: [${Array.from({ length: 1000 }, (_, i) => `{ k${i}: 1 }`).join(", ")}]\n`],
]) {
  test(`a config file with ${what} is a short, clear EINVAL`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsraft-fuzz-config-"));
    try {
      await writeFile(join(dir, "serve.yaml"), yaml);
      await assert.rejects(readServeConfig(join(dir, "serve.yaml")), clearRefusal(["EINVAL"]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
