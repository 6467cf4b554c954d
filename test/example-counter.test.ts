/**
 * The counter example as its users run it: three server processes on loopback,
 * the client module calling them, a replica killed with SIGKILL (the leader, the
 * hardest case) and restarted. Real processes and TCP: bounded by a deadline.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { callCounter } from "../src/examples/counter/counter-client-api.js";
import { RaftError } from "../src/errors.js";
import { freePorts } from "./support/kv-cluster.js";
import { waitFor } from "./support/node-cluster.js";

const SERVER = fileURLToPath(new URL("../src/examples/counter/counter-server.js", import.meta.url));
const CLIENT = fileURLToPath(new URL("../src/examples/counter/counter-client.js", import.meta.url));
/** Short elections keep the test fast; a snapshot every 5 entries compacts the log, so the restarted replica catches up from one. */
const SERVER_FLAGS = ["--election-timeout-ms", "500", "--snapshot-log-index-margin", "5"];

interface Server {
  readonly id: string;
  readonly dataDir: string;
  process: ChildProcess;
  /** Everything it printed, for role changes and for the failure report. */
  output: string;
}

function startServer(server: Omit<Server, "process" | "output">, peers: readonly string[]): Server {
  const child = spawn(process.execPath, [SERVER, "--id", server.id, "--peers", peers.join(","), "--data", server.dataDir, ...SERVER_FLAGS], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const started: Server = { ...server, process: child, output: "" };
  const collect = (chunk: Buffer): void => {
    started.output += chunk.toString();
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  return started;
}

async function stopServer(server: Server, signal: NodeJS.Signals): Promise<number | null> {
  const child = server.process;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const closed = once(child, "close"); // "close" rather than "exit": its output is all read by then
  child.kill(signal);
  const [code] = (await closed) as [number | null];
  return code;
}

/** The replica whose last role line is the leader's of the highest term. */
function leaderOf(servers: readonly Server[]): Server | undefined {
  let leader: Server | undefined;
  let leaderTerm = -1;
  for (const server of servers) {
    const roles = [...server.output.matchAll(/(became the leader|following \S+|stopped leading) in term (\d+)/g)];
    const last = roles.at(-1);
    if (last?.[1] === "became the leader" && Number(last[2]) > leaderTerm) {
      leader = server;
      leaderTerm = Number(last[2]);
    }
  }
  return leader;
}

/**
 * Three counter servers on free ports with data in a temp folder, given to `run`
 * (which may replace servers in the array); their output is printed when it
 * fails, and all are killed and the folder removed afterwards.
 */
async function withCounterCluster(run: (ids: string[], servers: Server[]) => Promise<void>): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), "tsraft-counter-"));
  const ids = (await freePorts(3)).map((port) => `127.0.0.1:${port}`);
  const servers = ids.map((id, i) => startServer({ id, dataDir: join(base, `replica-${i}`) }, ids));
  try {
    await run(ids, servers);
  } catch (error) {
    for (const server of servers) console.error(`--- ${server.id}\n${server.output}`);
    throw error;
  } finally {
    await Promise.all(servers.map((server) => stopServer(server, "SIGKILL")));
    await rm(base, { recursive: true, force: true });
  }
}

test("the counter example: three processes, a leader killed with SIGKILL, restarted, caught up", { timeout: 30_000 }, async () => {
  await withCounterCluster(async (ids, servers) => {
    // The first call waits out the processes' start and the first election.
    assert.equal(await callCounter(ids, { op: "get" }, { attempts: 30 }), 0);
    let expected = 0;
    for (const delta of [1, 2, 3, 4, 5, -5]) {
      expected += delta;
      assert.equal(await callCounter(ids, { op: "incrementAndGet", delta }), expected);
    }
    // get works on every member: ReadIndex, then the local value.
    for (const id of ids) assert.equal(await callCounter([id], { op: "get" }), expected);

    const victim = leaderOf(servers);
    assert.ok(victim !== undefined, "a leader announced itself");
    await stopServer(victim, "SIGKILL");
    for (let i = 0; i < 12; i++) {
      expected += 1;
      assert.equal(await callCounter(ids, { op: "incrementAndGet", delta: 1 }), expected, "the two survivors elect a leader and go on");
    }

    const restarted = startServer({ id: victim.id, dataDir: victim.dataDir }, ids);
    servers[servers.indexOf(victim)] = restarted;
    // Asked alone, the restarted replica answers only once it has caught up to every acknowledged write.
    assert.equal(await callCounter([restarted.id], { op: "get" }, { attempts: 30 }), expected);
    expected += 10;
    assert.equal(await callCounter([restarted.id], { op: "incrementAndGet", delta: 10 }), expected, "it names the new leader");
    for (const id of ids) assert.equal(await callCounter([id], { op: "get" }), expected);

    for (const server of servers) assert.equal(await stopServer(server, "SIGTERM"), 0, `${server.id} shuts down cleanly:\n${server.output}`);
    assert.match(restarted.output, /copied the snapshot at index \d+/, "the restarted replica installed the leader's snapshot");
    assert.match(restarted.output, /SIGTERM: shutting down[\s\S]*stopped/);
  });
});

test("SIGKILL of the leader while writes are in flight loses no acknowledged write", { timeout: 30_000 }, async (t) => {
  await withCounterCluster(async (ids, servers) => {
    assert.equal(await callCounter(ids, { op: "get" }, { attempts: 30 }), 0);
    // One attempt per call: a call that fails may or may not have applied, so it is counted
    // apart; a retry could apply twice (the counter keeps no client sessions).
    const outcome = { acked: 0, failed: 0, inFlight: 0, highestAcked: 0 };
    let leaderGuess = ids[0]!;
    let writing = true;
    const writer = async (): Promise<void> => {
      while (writing) {
        outcome.inFlight++;
        try {
          const value = await callCounter([leaderGuess], { op: "incrementAndGet", delta: 1 }, { attempts: 1, requestTimeoutMs: 1000 });
          outcome.acked++;
          outcome.highestAcked = Math.max(outcome.highestAcked, value);
        } catch (error) {
          outcome.failed++;
          const hint = error instanceof RaftError && error.code === "ENOTLEADER" ? error.leaderHint : null;
          leaderGuess = hint ?? ids[(ids.indexOf(leaderGuess) + 1) % ids.length]!;
          if (hint === null) await new Promise((resolve) => setTimeout(resolve, 50));
        } finally {
          outcome.inFlight--;
        }
      }
    };
    const writers = Array.from({ length: 8 }, () => writer());
    await waitFor(() => outcome.acked >= 50, 10_000, "50 acknowledged writes before the kill");
    const victim = leaderOf(servers);
    assert.ok(victim !== undefined, "a leader announced itself");
    const inFlightAtKill = outcome.inFlight;
    await stopServer(victim, "SIGKILL");
    const ackedAtKill = outcome.acked;
    await waitFor(() => outcome.acked >= ackedAtKill + 50, 10_000, "50 more acknowledged writes after the kill");
    writing = false;
    await Promise.all(writers);

    const restarted = startServer({ id: victim.id, dataDir: victim.dataDir }, ids);
    servers[servers.indexOf(victim)] = restarted;
    const final = await callCounter(ids, { op: "get" }, { attempts: 30 });
    for (const id of ids) assert.equal(await callCounter([id], { op: "get" }, { attempts: 30 }), final, `${id} agrees once caught up`);
    t.diagnostic(`in flight at the kill ${inFlightAtKill}; acknowledged ${outcome.acked}, failed ${outcome.failed}; final value ${final}`);
    assert.ok(inFlightAtKill > 0, "writes were in flight when the leader was killed");
    assert.ok(final >= outcome.acked && final >= outcome.highestAcked, `every acknowledged write is there: ${JSON.stringify(outcome)}, final ${final}`);
    assert.ok(final <= outcome.acked + outcome.failed, `nothing applied that was never sent: ${JSON.stringify(outcome)}, final ${final}`);
  });
});

test("the counter's commands reject bad flags with a clear error and exit code 1", () => {
  const run = (script: string, args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: "utf8", timeout: 10_000 });
  const notMember = run(SERVER, ["--id", "127.0.0.1:1", "--peers", "127.0.0.1:2,127.0.0.1:3", "--data", "unused"]);
  assert.equal(notMember.status, 1);
  assert.match(notMember.stderr, /--id 127\.0\.0\.1:1 is not in --peers/);
  assert.match(run(SERVER, ["--id", "localhost", "--peers", "127.0.0.1:2", "--data", "unused"]).stderr, /not of the form host:port/);
  const badDelta = run(CLIENT, ["--peers", "127.0.0.1:1", "incrementAndGet", "1.5"]);
  assert.equal(badDelta.status, 1);
  assert.match(badDelta.stderr, /expected an integer, got "1\.5"/);
  // Nothing listens on port 1: the client gives up after its attempts, saying why.
  const unreachable = run(CLIENT, ["--peers", "127.0.0.1:1", "--attempts", "2", "get"]);
  assert.equal(unreachable.status, 1);
  assert.match(unreachable.stderr, /error: get failed: EAGAIN: gave up after 2 attempts/);
});
