/** The `tsraft` command: help, sim's JSON line and exit codes, flag errors, demo. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../src/bin/tsraft.js", import.meta.url));

function tsraft(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("tsraft --help lists the commands", () => {
  const r = tsraft("--help");
  assert.equal(r.status, 0);
  assert.match(r.stdout, /sim/);
  assert.match(r.stdout, /demo/);
});

test("tsraft sim --seeds N ends with exactly one JSON line on stdout", () => {
  const r = tsraft("sim", "--seeds", "30", "--start", "5", "--workers", "2");
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1);
  const summary = JSON.parse(lines[0]!);
  assert.deepEqual(Object.keys(summary), ["seeds", "violations", "steps", "firstFailingSeed"]);
  assert.equal(summary.seeds, 30);
  assert.equal(summary.violations, 0);
  assert.equal(summary.firstFailingSeed, null);
  assert.ok(summary.steps > 0);
  assert.match(r.stderr, /30\/30 seeds/);
});

test("tsraft sim --seed S --trace replays one seed: the same trace twice, then the JSON line", () => {
  const a = tsraft("sim", "--seed", "77", "--nodes", "5", "--trace");
  const b = tsraft("sim", "--seed", "77", "--nodes", "5", "--trace");
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  const lines = a.stdout.trim().split("\n");
  assert.ok(lines.length > 100);
  assert.match(lines[1]!, /^\s+\d+ms n\d+\s+start #1/);
  assert.deepEqual(JSON.parse(lines[lines.length - 1]!).seeds, 1);
});

test("bad flags give a clear error and exit code 2", () => {
  const cases: [string[], RegExp][] = [
    [["sim", "--seeds", "abc"], /--seeds must be a whole number/],
    [["sim", "--seeds", "10", "--nodes", "4"], /--nodes must be 3, 5 or 7/],
    [["sim"], /give --seeds N/],
    [["sim", "--seed", "1", "--seeds", "2"], /cannot be combined/],
    [["sim", "--seeds", "2", "--trace"], /use it with --seed/],
    [["sim", "--bogus"], /unknown option/],
    [["frobnicate"], /unknown command/],
  ];
  for (const [args, message] of cases) {
    const r = tsraft(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.equal(r.stdout, "");
  }
});

test("tsraft demo exits 0 after its story", () => {
  const r = tsraft("demo");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /final state:/);
});
