/** The KV store's memory (npm run bench:kv-memory, bounded): random overwrites must not leave dead value bytes held. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const BENCH = fileURLToPath(new URL("../src/bench/kv-memory-bench.js", import.meta.url));

interface Usage {
  readonly bytesPerKey: number;
}

test("memory per key stays flat through random overwrites (values kept as strings, not in shared Buffer pools)", async () => {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ["--expose-gc", BENCH, "--keys", "20000", "--overwrites", "100000"], { encoding: "utf8", timeout: 60_000 }, (error, out, err) =>
      error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
    );
  });
  const figures = JSON.parse(stdout.trim().split("\n").at(-1)!) as { keys: number; loaded: Usage; overwritten: Usage };
  assert.equal(figures.keys, 20000);
  assert.ok(figures.loaded.bytesPerKey > 256, `a key with a 256-byte value takes more than the value: ${figures.loaded.bytesPerKey}`);
  // With Buffer copies this went from about 530 to 1,850 bytes per key.
  assert.ok(figures.overwritten.bytesPerKey < 1.3 * figures.loaded.bytesPerKey, `loaded ${figures.loaded.bytesPerKey}, overwritten ${figures.overwritten.bytesPerKey} bytes per key`);
});
