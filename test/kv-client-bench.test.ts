/** npm run bench:kv-client, bounded: it runs end to end, prints its JSON line, and refuses a wrong flag. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const BENCH = fileURLToPath(new URL("../src/bench/kv-client-bench.js", import.meta.url));

function run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BENCH, ...args], { encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr }),
    );
  });
}

test("bench:kv-client measures CPU per call for put and get and ends with its JSON line", async () => {
  for (const op of ["put", "get"]) {
    const { code, stdout, stderr } = await run(["--op", op, "--in-flight", "16", "--windows", "2", "--window-secs", "1"]);
    assert.equal(code, 0, stderr);
    const figures = JSON.parse(stdout.trim().split("\n").at(-1)!) as { op: string; inFlight: number; cpuUsPerCall: number[] };
    assert.equal(figures.op, op);
    assert.equal(figures.inFlight, 16);
    assert.equal(figures.cpuUsPerCall.length, 2);
    for (const us of figures.cpuUsPerCall) assert.ok(Number.isFinite(us) && us > 0, `CPU per call ${us}`);
  }
});

test("bench:kv-client refuses a wrong flag with what it expected", async () => {
  const { code, stderr } = await run(["--in-flight", "0"]);
  assert.notEqual(code, 0);
  assert.match(stderr, /--in-flight must be a whole number from 1 to 4096, got "0"/);
});
