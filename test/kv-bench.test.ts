/**
 * `npm run bench` in miniature: a few hundred keys and sub-second phases, so
 * that the command the README's figures come from keeps running end to end
 * and keeps the JSON shape. The figures themselves come from the full
 * run (README, "Benchmark beside etcd"), not from here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const BENCH = fileURLToPath(new URL("../src/bench/kv-bench.js", import.meta.url));
const PORTS_USED = 12;
const FIGURES = ["opsPerSec", "p50Ms", "p99Ms", "p999Ms", "clientCpuPct", "serverCpuPct"];

const run = promisify(execFile);

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Linux's ephemeral ports start here: other tests' connections and listen(0) servers take theirs above it. */
const EPHEMERAL_PORTS_START = 32_768;

/** A base port whose whole range binds right now, below the ephemeral ports so no connection takes one meanwhile. */
async function freeRange(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (EPHEMERAL_PORTS_START - 20_000 - PORTS_USED));
    const free = await Promise.all(Array.from({ length: PORTS_USED }, (_, i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${PORTS_USED} consecutive free ports found`);
}

/** A miniature run's output, its tsraft figures checked against the JSON shape. */
async function miniatureRun(...flags: string[]): Promise<string> {
  const basePort = await freeRange();
  const args = [BENCH, "--systems", "tsraft", "--keys", "300", "--warmup-secs", "0.2", "--duration-secs", "0.3", "--base-port", String(basePort), ...flags];
  const { stdout } = await run(process.execPath, args, { timeout: 100_000 });
  const lines = stdout.trim().split("\n");

  const figures = JSON.parse(lines.at(-1)!) as Record<string, Record<string, Record<string, number>>>;
  assert.deepEqual(Object.keys(figures).sort(), ["get", "put"]);
  assert.deepEqual(Object.keys(figures.put!).sort(), ["1", "16", "256"]);
  assert.deepEqual(Object.keys(figures.get!), ["256"]);
  for (const [op, byInFlight] of Object.entries(figures)) {
    for (const [inFlight, result] of Object.entries(byInFlight)) {
      const where = `${op} with ${inFlight} in flight`;
      assert.deepEqual(Object.keys(result).sort(), [...FIGURES].sort(), where);
      assert.ok(result.opsPerSec! > 0, `${where}: ${JSON.stringify(result)}`);
      assert.ok(result.p50Ms! > 0 && result.p50Ms! <= result.p99Ms! && result.p99Ms! <= result.p999Ms!, `${where}: ${JSON.stringify(result)}`);
    }
  }

  const floor = /^tsraft: floor beside put with 1 in flight: p50 ([\d.]+) ms before, ([\d.]+) ms after/m.exec(stdout);
  assert.ok(floor !== null, stdout);
  assert.ok(Number(floor[1]) > 0 && Number(floor[2]) > 0, floor[0]);
  return stdout;
}

test("the KV benchmark runs end to end and ends with the issue's JSON line", { timeout: 120_000 }, async () => {
  const stdout = await miniatureRun();
  assert.doesNotMatch(stdout, /--no-sync/);
});

test("the KV benchmark runs without fdatasync when asked, and says so", { timeout: 120_000 }, async () => {
  const stdout = await miniatureRun("--no-sync");
  assert.match(stdout, /^--no-sync: tsraft and the floor do not fdatasync; a crash could lose acknowledged writes/m);
});

test("the KV benchmark profiles tsraft's servers and client in the phases asked for", { timeout: 120_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), "tsraft-bench-test-"));
  const profiles = join(root, "profiles");
  try {
    const basePort = await freeRange();
    const args = [BENCH, "--systems", "tsraft", "--keys", "300", "--warmup-secs", "0.2", "--duration-secs", "0.3", "--base-port", String(basePort)];
    const { stdout } = await run(process.execPath, [...args, "--phases", "put@256", "--cpu-prof", profiles], { timeout: 100_000 });

    const figures = JSON.parse(stdout.trim().split("\n").at(-1)!) as { put: Record<string, unknown>; get: Record<string, unknown> };
    assert.deepEqual(Object.keys(figures.put), ["256"]);
    assert.deepEqual(Object.keys(figures.get), []);
    assert.doesNotMatch(stdout, /put with {3}1 in flight|floor beside/);

    const written = (await readdir(profiles)).sort();
    const servers = [0, 1, 2].map((i) => `server-127.0.0.1_${basePort + 3 + i}.cpuprofile`);
    assert.deepEqual(written, ["client.cpuprofile", ...servers].sort());
    for (const name of written) {
      const summary = new RegExp(`^CPU profile ${join(profiles, name).replace(/[.]/g, "\\.")}, top functions by self time:\n  busy (\\d+) ms of (\\d+) ms sampled\n( +[\\d.]+%  +\\d+ ms  .+\n){3,}`, "m").exec(stdout);
      assert.ok(summary !== null, `no summary of ${name} in:\n${stdout}`);
      assert.ok(Number(summary[1]) > 0 && Number(summary[1]) <= Number(summary[2]), summary[0]);
    }

    await assert.rejects(run(process.execPath, [...args, "--cpu-prof", profiles], { timeout: 30_000 }), (error: { code?: number; stderr?: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr ?? "", /--cpu-prof .*: the folder exists; give a new one/);
      return true;
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("the KV benchmark refuses a wrong flag with what it expected", async () => {
  const attempt = (args: string[]) => run(process.execPath, [BENCH, ...args], { timeout: 30_000 });
  await assert.rejects(attempt(["--systems", "redis"]), (error: { code?: number; stderr?: string }) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr ?? "", /unknown system "redis"; expected tsraft, etcd or both/);
    return true;
  });
  await assert.rejects(attempt(["--base-port", "65530"]), (error: { code?: number; stderr?: string }) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr ?? "", /--base-port must be a whole number from 1024 to 65524/);
    return true;
  });
  await assert.rejects(attempt(["--keys", "2.5"]), (error: { code?: number; stderr?: string }) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr ?? "", /--keys must be a whole number from 1 to 10000000, got "2.5"/);
    return true;
  });
  await assert.rejects(attempt(["--phases", "put@1,put@2"]), (error: { code?: number; stderr?: string }) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr ?? "", /unknown phase "put@2"; expected some of put@1,put@16,put@256,get@256/);
    return true;
  });
  await assert.rejects(attempt(["--cpu-prof", join(tmpdir(), "never-made"), "--systems", "etcd"]), (error: { code?: number; stderr?: string }) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr ?? "", /--cpu-prof profiles tsraft only: give --systems tsraft or drop --cpu-prof/);
    return true;
  });
  await assert.rejects(attempt(["--no-sync", "--systems", "tsraft,etcd"]), (error: { code?: number; stderr?: string }) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr ?? "", /--no-sync measures tsraft only .*: give --systems tsraft or drop --no-sync/);
    return true;
  });
});

/** Runs a miniature bench with other programs on some of tsraft's server ports (0 to 2); resolves with its stderr and how long it took. */
async function benchWithServerPortsTaken(basePort: number, servers: readonly number[]): Promise<{ stderr: string; elapsedMs: number }> {
  // Another program on a server's port: it hangs up on everyone (the other servers dial it as their peer).
  const squatters = servers.map((server) => net.createServer((socket) => socket.destroy()).listen(basePort + 3 + server, "127.0.0.1"));
  await Promise.all(squatters.map((squatter) => once(squatter, "listening")));
  const startedMs = Date.now();
  try {
    const args = [BENCH, "--systems", "tsraft", "--keys", "10", "--warmup-secs", "0.1", "--duration-secs", "0.1", "--base-port", String(basePort)];
    let stderr = "";
    await assert.rejects(run(process.execPath, args, { timeout: 80_000 }), (error: { code?: number; stderr?: string }) => {
      assert.equal(error.code, 1);
      stderr = error.stderr ?? "";
      return true;
    });
    return { stderr, elapsedMs: Date.now() - startedMs };
  } finally {
    await Promise.all(squatters.map((squatter) => new Promise((resolve) => squatter.close(resolve))));
  }
}

test("the KV benchmark stops with the server that could not start when one of its ports is taken", { timeout: 90_000 }, async () => {
  const basePort = await freeRange();
  const { stderr } = await benchWithServerPortsTaken(basePort, [0]);
  assert.match(stderr, new RegExp(`tsraft server 127\\.0\\.0\\.1:${basePort + 3} exited at start \\(is its port in use\\? see --base-port\\)`));
  assert.match(stderr, /EADDRINUSE/);
});

test("the KV benchmark stops at once, not after its 30 s readiness timeout, when every server exits at start", { timeout: 90_000 }, async () => {
  const basePort = await freeRange();
  const { stderr, elapsedMs } = await benchWithServerPortsTaken(basePort, [0, 1, 2]);
  assert.match(stderr, /the tsraft cluster did not become ready: Error: every server exited at start \(are their ports in use\? see --base-port\)/);
  assert.ok((stderr.match(/EADDRINUSE/g)?.length ?? 0) >= 3, stderr);
  assert.ok(elapsedMs < 20_000, `took ${elapsedMs} ms`);
});
