/**
 * The KV store end to end with real processes: three `tsraft serve` child
 * processes on free ports (temp data folders, 500 ms elections), clients in
 * this process, in worker processes (support/kv-client-worker.ts) and as
 * `tsraft kv` runs; leaders killed with SIGKILL, a lock holder paused with
 * SIGSTOP. Every operation; compareAndPut under concurrency; lock expiry with
 * fencing; a watch across a leader change; sequences without duplicates
 * across a leader change; retried writes applied once; bad input refused
 * with a clear error while the servers live on.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { RaftError } from "../src/errors.js";
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, type KvCall, type KvCallResult, type LockState, type WatchEvent } from "../src/kv/commands.js";
import { decodeKvResponse, encodeKvRequest } from "../src/kv/kv-codec.js";
import { toText } from "../src/kv/index.js";
import { KV_SERVICE } from "../src/kv/kv-service.js";
import {
  FENCE_KEY,
  PROCESS_CLUSTER_NAME,
  PROCESS_GROUP,
  RESOURCE_KEY,
  KvProcesses,
  TSRAFT_BIN,
  casIncrements,
  fencedWrite,
  sleep,
  waitUntil,
} from "./support/kv-processes.js";
import { describeEvent, runEveryOperation, text } from "./support/kv-every-operation.js";
import { bytes } from "./support/node-cluster.js";

async function withCluster(run: (cluster: KvProcesses) => Promise<void>): Promise<void> {
  const cluster = await KvProcesses.start(3, 500);
  try {
    await run(cluster);
  } catch (error) {
    console.error(cluster.report());
    throw error;
  } finally {
    await cluster.destroy();
  }
}

/** One raw request frame to one server, as a client of another language would send it. */
async function rawRequest(cluster: KvProcesses, address: string, calls: KvCall[]): Promise<KvCallResult[]> {
  const answer = await cluster.transport.request(address, KV_SERVICE, encodeKvRequest({ groupId: PROCESS_GROUP, calls }), { timeoutMs: 5000 });
  return [...decodeKvResponse(answer).results];
}

async function waitUntilAsync(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

test("every KvClient operation against three tsraft serve processes", { timeout: 40_000 }, () =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    // Every data change from here on, as a watch from the next index will see it.
    const fromIndex = leader.committedIndex + 1;
    const kv = cluster.client();

    const expected = await runEveryOperation(kv, cluster.client());

    // The watch, started after the writes, from the index before them: every data change, in order.
    const seen: WatchEvent[] = [];
    for await (const event of kv.watch("", { prefix: true, fromIndex, waitMs: 300 })) {
      seen.push(event);
      if (seen.length === expected.length) break;
    }
    assert.deepEqual(seen.map(describeEvent), expected);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.index >= seen[i - 1]!.index, "indexes never go back");
    const only = [];
    for await (const event of kv.watch("m", { fromIndex, waitMs: 300 })) {
      only.push(describeEvent(event));
      if (only.length === 2) break;
    }
    assert.deepEqual(only, ["put m = x", "put m = xy"], "a watch of one key sees that key only");
  }),
);

test("compareAndPut under concurrency: 4 client processes and 2 in-process clients increment one counter, no lost update", { timeout: 60_000 }, (t) =>
  withCluster(async (cluster) => {
    await cluster.waitLeader();
    const perClient = 12;
    const workers = Array.from({ length: 4 }, () => cluster.worker("cas", { key: "counter", successes: perClient }));
    await Promise.all(workers.map((worker) => worker.line("ready")));
    const local = [cluster.client(), cluster.client()];
    const startedMs = Date.now();
    for (const worker of workers) worker.send("go");
    const localRuns = await Promise.all(local.map((kv) => casIncrements(kv, "counter", perClient)));
    const workerRuns = await Promise.all(workers.map(async (worker) => (await worker.line("done", 45_000)) as unknown as { wrote: number[]; attempts: number }));
    const elapsedMs = Date.now() - startedMs;
    const runs = [...localRuns, ...workerRuns];
    const wrote = runs.flatMap((run) => run.wrote);
    const attempts = runs.reduce((sum, run) => sum + run.attempts, 0);
    const total = runs.length * perClient;
    assert.equal(wrote.length, total);
    assert.equal(text(await local[0]!.get("counter")), String(total), "the counter is the number of successful compareAndPuts");
    assert.deepEqual([...wrote].sort((x, y) => x - y), Array.from({ length: total }, (_, i) => i + 1), "each value from 1 to the total was written by exactly one successful compareAndPut");
    for (const worker of workers) assert.deepEqual(await worker.closed, { code: 0, signal: null }, worker.stderr);
    assert.ok(attempts > total, `clients raced: ${attempts} attempts for ${total} successes`);
    t.diagnostic(`${runs.length} clients (4 processes): ${total} successful compareAndPuts of ${attempts} attempts in ${elapsedMs} ms`);
  }),
);

test("lock expiry with fencing: a holder paused (SIGSTOP) past its lease loses the lock; its old token is refused; a SIGKILLed holder's lock expires too", { timeout: 60_000 }, (t) =>
  withCluster(async (cluster) => {
    await cluster.waitLeader();
    const kv = cluster.client();
    const leaseMs = 1500;
    const a = cluster.worker("lock", { key: "jobs/nightly", owner: "A", leaseMs });
    const acquired = await a.line("acquired");
    const tokenA = acquired.token as number;
    assert.equal(acquired.write, "written", "A writes the resource with its token");
    const b = kv.lock("jobs/nightly", { owner: "B", leaseMs: 10_000 });
    assert.equal(await b.tryLock(), false);
    assert.equal(b.lastState!.owner, "A");
    // A's keepAlive renews its lease every third of it: still A's two leases later.
    await sleep(2 * leaseMs);
    assert.equal(await b.tryLock(), false, "A's process keeps its lease alive");
    assert.equal(b.lastState!.owner, "A");

    a.child.kill("SIGSTOP"); // A pauses (a GC pause, a swapped-out VM): no more renewals
    const pausedMs = Date.now();
    assert.equal(await b.tryLock(), false, "the lease A renewed last still holds just after the pause");
    const lastSeenExpiry = b.lastState!.expiresAtMs;
    await b.lock(10_000);
    const tookMs = Date.now() - pausedMs;
    const tokenB = b.fencingToken;
    assert.ok(tokenB > tokenA, `B's token ${tokenB} is greater than A's ${tokenA}`);
    assert.ok(b.lastState!.expiresAtMs - 10_000 >= lastSeenExpiry, "B took the lock only once A's lease had expired, on the store's clock");
    assert.ok(tookMs <= leaseMs + 4000, `B got the lock ${tookMs} ms after A paused`);
    assert.equal(await fencedWrite(kv, tokenB, "B:work"), "written");

    a.child.kill("SIGCONT"); // A comes back, still believing it holds the lock
    a.send("check");
    const checked = await a.line("checked");
    const renewedA = checked.renewed as LockState;
    assert.equal(renewedA.acquired, false, "A's renewal with its old token fails");
    assert.equal(renewedA.owner, "B");
    assert.equal(renewedA.token, tokenB);
    assert.equal(checked.released, false, "A's release with its old token fails");
    assert.equal(checked.write, "refused", "the resource refuses A's stale token");
    assert.equal(checked.heldAfter, false, "A's keepAlive learns it lost the lock");
    assert.deepEqual(await a.closed, { code: 0, signal: null }, a.stderr);
    assert.deepEqual((await kv.multiGet([FENCE_KEY, RESOURCE_KEY])).map(text), [String(tokenB), "B:work"], "only B's write is there");
    assert.equal(b.held, true);
    assert.equal(await b.renew(), true, "B still holds it");
    assert.equal(await b.unlock(), true);

    // A holder whose process is SIGKILLed: its lease runs out, the next holder's token is greater.
    const c = cluster.worker("lock", { key: "jobs/nightly", owner: "C", leaseMs });
    const tokenC = (await c.line("acquired")).token as number;
    assert.ok(tokenC > tokenB);
    await c.kill("SIGKILL");
    const d = kv.lock("jobs/nightly", { owner: "D", leaseMs: 10_000 });
    const killedMs = Date.now();
    await d.lock(10_000);
    const tokenD = d.fencingToken;
    assert.ok(tokenD > tokenC, `D's token ${tokenD} is greater than the killed C's ${tokenC}`);
    assert.equal(await fencedWrite(kv, tokenD, "D:work"), "written");
    assert.equal(await fencedWrite(kv, tokenC, "C:late"), "refused", "a write with the dead holder's token is refused");
    assert.equal((await kv.renewLock("jobs/nightly", "C", tokenC, leaseMs)).acquired, false);
    assert.equal(await kv.releaseLock("jobs/nightly", "C", tokenC), false);
    assert.equal(text(await kv.get(RESOURCE_KEY)), "D:work");
    assert.equal(await d.unlock(), true);
    t.diagnostic(`tokens A ${tokenA} < B ${tokenB} < C ${tokenC} < D ${tokenD}; B waited ${tookMs} ms after A paused, D ${Date.now() - killedMs} ms after C was killed (leases ${leaseMs} ms)`);
  }),
);

interface IssuedWrite {
  readonly description: string;
  acked: boolean;
  failed: boolean;
}

/** Events of a `tsraft kv watch --json` child process. */
interface CliWatch {
  readonly events: WatchEvent[];
  readonly stop: () => Promise<{ code: number | null; stderr: string }>;
}

function cliWatch(cluster: KvProcesses, prefix: string, fromIndex: number): CliWatch {
  const child = spawn(
    process.execPath,
    [TSRAFT_BIN, "kv", "watch", prefix, "--prefix", "--json", "--from-index", String(fromIndex), "--endpoints", cluster.endpoints, "--cluster-name", PROCESS_CLUSTER_NAME],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const events: WatchEvent[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout!, crlfDelay: Infinity }).on("line", (line) => {
    const json = JSON.parse(line) as { index: number; type: "put" | "delete"; key: string; value?: string };
    events.push({ index: json.index, type: json.type, key: bytes(json.key), value: json.type === "put" ? bytes(json.value!) : null });
  });
  const closed = once(child, "close");
  return {
    events,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const [code] = (await closed) as [number | null];
      return { code, stderr };
    },
  };
}

/**
 * Checks a watch's events against the writes issued one at a time: the
 * events are the writes in the order issued, each at most once, every
 * acknowledged one present, only failed ones possibly missing.
 */
function matchWrites(events: readonly WatchEvent[], issued: readonly IssuedWrite[], who: string): { missingFailed: number } {
  let next = 0;
  let missingFailed = 0;
  for (const [i, event] of events.entries()) {
    const description = describeEvent(event);
    while (next < issued.length && issued[next]!.description !== description) {
      assert.ok(!issued[next]!.acked, `${who}: the acknowledged "${issued[next]!.description}" is missing before event ${i} "${description}"`);
      missingFailed++;
      next++;
    }
    assert.ok(next < issued.length, `${who}: event ${i} "${description}" is not an issued write, or comes again or out of order`);
    next++;
  }
  for (; next < issued.length; next++) {
    assert.ok(!issued[next]!.acked, `${who}: the acknowledged "${issued[next]!.description}" never came`);
    missingFailed++;
  }
  return { missingFailed };
}

test("watch across a leader change: every acknowledged put and delete once, in commit order, while the leader is SIGKILLed", { timeout: 60_000 }, (t) =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    const fromIndex = leader.committedIndex + 1;
    const kv = cluster.client();
    const abort = new AbortController();
    const seen: WatchEvent[] = [];
    const watching = (async () => {
      const watcher = cluster.client();
      for await (const event of watcher.watch("w/", { prefix: true, fromIndex, waitMs: 1000, signal: abort.signal })) seen.push(event);
    })();
    const cli = cliWatch(cluster, "w/", fromIndex);
    try {
      // One writer, one write at a time: the order issued is the commit order. Values are unique.
      const issued: IssuedWrite[] = [];
      const present = new Set<string>(); // keys whose last write was an acknowledged put
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          const deletable = [...present];
          const del = i % 3 === 2 && deletable.length > 0 ? deletable[i % deletable.length]! : null;
          const key = del ?? `w/${i % 8}`;
          const write: IssuedWrite = { description: del !== null ? `delete ${key}` : `put ${key} = v${i}`, acked: false, failed: false };
          issued.push(write);
          present.delete(key);
          try {
            if (del !== null) assert.equal(await kv.delete(key), true, `${key} existed`);
            else await kv.put(key, `v${i}`);
            write.acked = true;
            if (del === null) present.add(key);
          } catch (error) {
            if (!(error instanceof RaftError)) throw error;
            write.failed = true;
          }
        }
      })();
      // Writes elsewhere, to be left out of the watch.
      const noise = (async () => {
        for (let i = 0; writing; i++) await kv.put(`x/${i % 4}`, `n${i}`).catch(() => {});
      })();
      const acked = (): number => issued.filter((w) => w.acked).length;
      await waitUntil(() => acked() >= 40 && seen.length >= 10 && cli.events.length >= 10, 20_000, "40 acknowledged writes, watched");
      const victim = (await cluster.waitLeader()).serverId;
      const ackedAtKill = acked();
      const seenAtKill = seen.length;
      await cluster.kill(victim);
      const killedMs = Date.now();
      await waitUntil(() => acked() >= ackedAtKill + 40, 20_000, "40 more acknowledged writes after the kill");
      const recoveredMs = Date.now() - killedMs;
      writing = false;
      await Promise.all([writer, noise]);
      const final: IssuedWrite = { description: "put w/last = final", acked: false, failed: false };
      issued.push(final);
      await kv.put("w/last", "final");
      final.acked = true;
      const isFinal = (e: WatchEvent): boolean => toText(e.key) === "w/last";
      await waitUntil(() => seen.some(isFinal) && cli.events.some(isFinal), 20_000, "both watchers to see the last write");
      abort.abort();
      await watching;
      const cliExit = await cli.stop();
      assert.equal(cliExit.code, 0, `tsraft kv watch stops cleanly on SIGTERM: ${cliExit.stderr}`);

      const { missingFailed } = matchWrites(seen, issued, "KvClient watch");
      matchWrites(cli.events, issued, "tsraft kv watch");
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.index > seen[i - 1]!.index, `strictly increasing indexes: ${seen[i - 1]!.index} then ${seen[i]!.index}`);
      assert.deepEqual(
        cli.events.map((e) => `${e.index} ${describeEvent(e)}`),
        seen.map((e) => `${e.index} ${describeEvent(e)}`),
        "the CLI's watch saw the same events at the same indexes",
      );
      assert.ok(seen.length > seenAtKill, "events after the kill came through");
      // The events replayed give the store's state.
      const replayed = new Map<string, string>();
      for (const event of seen) {
        if (event.type === "put") replayed.set(toText(event.key), toText(event.value!));
        else replayed.delete(toText(event.key));
      }
      const stored = await kv.scan("w/", "w0");
      assert.deepEqual(stored.map((e) => [toText(e.key), toText(e.value)]), [...replayed].sort(([x], [y]) => (x < y ? -1 : 1)));
      const failed = issued.filter((w) => w.failed).length;
      t.diagnostic(`${issued.length} writes (${failed} failed, ${missingFailed} of them not applied), ${seen.length} events; new leader serving ${recoveredMs} ms after the SIGKILL of ${victim}`);
    } finally {
      abort.abort();
      await cli.stop();
    }
  }),
);

test("sequences across a leader change: concurrent getSequence from 2 processes and 2 in-process clients, the leader SIGKILLed, acknowledged ranges disjoint", { timeout: 60_000 }, (t) =>
  withCluster(async (cluster) => {
    await cluster.waitLeader();
    const key = "order-id";
    const maxStep = 5;
    const workers = [0, 1].map(() => cluster.worker("seq", { key, concurrency: 4, maxStep }));
    await Promise.all(workers.map((worker) => worker.line("ready")));
    const ranges: { start: number; end: number; step: number }[] = [];
    const failedSteps: number[] = [];
    let inFlight = 0;
    let spanned = 0; // calls begun before the kill and acknowledged after
    // A flag, not timestamps: a burst of answers lets every loop begin its next merge in the millisecond of the kill.
    let killIssued = false;
    let running = true;
    const loops = [cluster.client(), cluster.client()].flatMap((kv, c) =>
      Array.from({ length: 4 }, async (_, loop) => {
        for (let i = 0; running; i++) {
          const step = 1 + ((c + loop + i) % maxStep);
          const begunBeforeKill = !killIssued;
          inFlight++;
          try {
            const range = await kv.getSequence(key, step);
            ranges.push({ ...range, step });
            if (begunBeforeKill && killIssued) spanned++;
          } catch (error) {
            if (!(error instanceof RaftError)) throw error;
            failedSteps.push(step);
          } finally {
            inFlight--;
          }
        }
      }),
    );
    const acked = (): number => ranges.length + workers.reduce((sum, worker) => sum + worker.count("range"), 0);
    await waitUntil(() => acked() >= 150, 20_000, "150 acknowledged getSequence calls");
    const victim = (await cluster.waitLeader()).serverId;
    const inFlightAtKill = inFlight;
    const ackedAtKill = acked();
    killIssued = true;
    await cluster.kill(victim);
    await waitUntil(() => acked() >= ackedAtKill + 150, 20_000, "150 more after the kill");
    running = false;
    for (const worker of workers) worker.send("stop");
    await Promise.all(loops);
    await Promise.all(workers.map((worker) => worker.line("done")));
    for (const worker of workers) {
      assert.deepEqual(await worker.closed, { code: 0, signal: null }, worker.stderr);
      for (const line of worker.lines) {
        if (line.event === "range") ranges.push({ start: line.start as number, end: line.end as number, step: line.step as number });
        if (line.event === "failed") failedSteps.push(line.step as number);
      }
    }

    for (const range of ranges) assert.equal(range.end - range.start, range.step, `${JSON.stringify(range)} has the size asked for`);
    const sorted = [...ranges].sort((x, y) => x.start - y.start);
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(sorted[i]!.start >= sorted[i - 1]!.end, `[${sorted[i - 1]!.start}, ${sorted[i - 1]!.end}) and [${sorted[i]!.start}, ${sorted[i]!.end}) overlap`);
    }
    const final = (await cluster.client().getSequence(key, 0)).start;
    const ackedValues = ranges.reduce((sum, range) => sum + range.step, 0);
    const failedValues = failedSteps.reduce((sum, step) => sum + step, 0);
    assert.ok(final >= sorted.at(-1)!.end, "the sequence is past every range handed out");
    assert.ok(final >= ackedValues && final <= ackedValues + failedValues, `each call reserved once: ${ackedValues} acknowledged + ${failedValues} failed values, sequence at ${final}`);
    assert.ok(inFlightAtKill > 0, "calls were in flight at the kill");
    t.diagnostic(`${ranges.length} acknowledged ranges (${ackedValues} values), ${failedSteps.length} failed; sequence at ${final}; ${inFlightAtKill} in-process calls in flight at the kill, ${spanned} of them acknowledged after it`);
  }),
);

test("a retried write is applied once: the same merge resent by hand to the new leader after the old one was SIGKILLed", { timeout: 30_000 }, () =>
  withCluster(async (cluster) => {
    // The answer "was lost" and the leader died: the call, same session and seq, goes to the new one.
    const leader = await cluster.waitLeader();
    const append: KvCall = { kind: "write", clientId: "retrying-client", seq: 1, firstUnackedSeq: 1, op: { type: "merge", key: bytes("log"), value: bytes("a") } };
    assert.deepEqual(await rawRequest(cluster, leader.serverId, [append]), [{ type: "ok" }]);
    const written = (await cluster.status(leader.serverId))!.committedIndex;
    for (const id of cluster.ids.filter((id) => id !== leader.serverId)) {
      await waitUntilAsync(async () => ((await cluster.status(id))?.appliedIndex ?? 0) >= written, 5000, `${id} to apply index ${written}`);
    }
    await cluster.kill(leader.serverId);
    const next = await cluster.waitLeader();
    assert.notEqual(next.serverId, leader.serverId);
    assert.deepEqual(await rawRequest(cluster, next.serverId, [append]), [{ type: "ok" }], "the retry answers with the first result");
    const kv = cluster.client();
    assert.equal(text(await kv.get("log")), "a", "and does not append again");
    const second: KvCall = { kind: "write", clientId: "retrying-client", seq: 2, firstUnackedSeq: 2, op: { type: "merge", key: bytes("log"), value: bytes("b") } };
    assert.deepEqual(await rawRequest(cluster, next.serverId, [second]), [{ type: "ok" }]);
    const late = (await rawRequest(cluster, next.serverId, [append]))[0]!;
    assert.equal(late.type === "error" && late.code, "ECOMPACTED", "a retry of an acknowledged seq is refused, not applied");
    assert.equal(text(await kv.get("log")), "ab");
  }),
);

test("retried writes are applied once: merges in flight through a SIGKILL of the leader, retried by KvClient, each acknowledged one there once", { timeout: 60_000 }, (t) =>
  withCluster(async (cluster) => {
    await cluster.waitLeader();
    const clients = [cluster.client(), cluster.client(), cluster.client()];
    const outcome = new Map<string, "acked" | "failed">();
    const failures = new Map<string, number>(); // error code -> count, for the report
    let inFlight = 0;
    let spanned = 0; // begun before the kill, acknowledged after: retried to the new leader
    // A flag, not timestamps: a burst of answers lets every loop begin its next merge in the millisecond of the kill.
    let killIssued = false;
    let running = true;
    const loops = clients.flatMap((client, c) =>
      Array.from({ length: 12 }, async (_, loop) => {
        for (let i = 0; running; i++) {
          const item = `${c}.${loop}.${i}`;
          const begunBeforeKill = !killIssued;
          inFlight++;
          try {
            await client.merge(`tally/${c}`, `${item};`);
            outcome.set(item, "acked");
            if (begunBeforeKill && killIssued) spanned++;
          } catch (error) {
            if (!(error instanceof RaftError)) throw error;
            outcome.set(item, "failed");
            failures.set(error.code, (failures.get(error.code) ?? 0) + 1);
          } finally {
            inFlight--;
          }
        }
      }),
    );
    const acked = (): number => [...outcome.values()].filter((o) => o === "acked").length;
    await waitUntil(() => acked() >= 300, 20_000, "300 acknowledged merges");
    const victim = (await cluster.waitLeader()).serverId;
    const inFlightAtKill = inFlight;
    killIssued = true;
    await cluster.kill(victim);
    const ackedAtKill = acked();
    await waitUntil(() => acked() >= ackedAtKill + 300, 20_000, "300 more after the kill");
    running = false;
    await Promise.all(loops);

    const kv = cluster.client();
    const counts = new Map<string, number>();
    for (let c = 0; c < clients.length; c++) {
      const value = text(await kv.get(`tally/${c}`)) ?? "";
      for (const item of value.split(";").filter((s) => s !== "")) counts.set(item, (counts.get(item) ?? 0) + 1);
    }
    for (const [item, times] of counts) {
      assert.ok(outcome.has(item), `${item} was never sent`);
      assert.equal(times, 1, `${item} (${outcome.get(item)}) appended ${times} times`);
    }
    const ackedItems = [...outcome].filter(([, o]) => o === "acked").map(([item]) => item);
    for (const item of ackedItems) assert.equal(counts.get(item), 1, `the acknowledged ${item} is there once`);
    assert.ok(inFlightAtKill > 0, "merges were in flight at the kill");
    assert.ok(spanned > 0, `some merges begun before the kill were acknowledged after it (retried); ${inFlightAtKill} in flight at the kill, failures by code: ${JSON.stringify(Object.fromEntries(failures))}`);
    const failed = outcome.size - ackedItems.length;
    t.diagnostic(`${ackedItems.length} merges acknowledged, ${failed} failed (${failed - (counts.size - ackedItems.length)} of those not applied); ${inFlightAtKill} in flight at the kill, ${spanned} begun before and acknowledged after it`);
  }),
);

test("bad input gets a clear error from tsraft kv (exit 2) and KvClient (EINVAL); malformed frames get EINVAL and the servers live on", { timeout: 60_000 }, () =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    const kv = cluster.client();
    await kv.put("k", "before");

    // tsraft kv: input the store refuses is bad usage, exit code 2 and one line naming the limit.
    const [bigKey, wideKey, bigOwner, longLease, unknownOp, unknownAction, valid] = await Promise.all([
      cluster.kv("put", "k".repeat(MAX_KEY_BYTES + 1), "v"),
      cluster.kv("get", "é".repeat(MAX_KEY_BYTES / 2 + 1)), // 2 bytes a character in UTF-8
      cluster.kv("lock", "acquire", "jobs/x", "--owner", "o".repeat(300)),
      cluster.kv("lock", "acquire", "jobs/x", "--lease-ms", String(25 * 3600 * 1000)),
      cluster.kv("frobnicate", "k"),
      cluster.kv("lock", "steal", "jobs/x", "--token", "1"),
      cluster.kv("get", "k"),
    ]);
    assert.deepEqual([bigKey.status, bigKey.stdout], [2, ""]);
    assert.equal(bigKey.stderr, `tsraft kv put: EINVAL: put: key of ${MAX_KEY_BYTES + 1} bytes is above MAX_KEY_BYTES ${MAX_KEY_BYTES}\n`);
    assert.equal(wideKey.status, 2);
    assert.equal(wideKey.stderr, `tsraft kv get: EINVAL: get: key of ${MAX_KEY_BYTES + 2} bytes is above MAX_KEY_BYTES ${MAX_KEY_BYTES}\n`);
    assert.equal(bigOwner.status, 2);
    assert.match(bigOwner.stderr, /^tsraft kv lock: EINVAL: .*owner of 300 bytes is above MAX_LOCK_OWNER_BYTES 256\n$/);
    assert.equal(longLease.status, 2);
    assert.match(longLease.stderr, /^tsraft kv lock: EINVAL: .*leaseMs must be an integer from 1 to 86400000, got 90000000\n$/);
    assert.equal(unknownOp.status, 2, unknownOp.stderr);
    assert.match(unknownOp.stderr, /unknown command 'frobnicate'/);
    assert.equal(unknownAction.status, 2);
    assert.equal(unknownAction.stderr, 'tsraft kv lock: EINVAL: lock action must be acquire, renew or release, got "steal"\n');
    assert.deepEqual([valid.status, valid.stdout], [0, "before\n"], valid.stderr);

    // KvClient: refused before sending, naming the limit.
    await assert.rejects(kv.put("k".repeat(MAX_KEY_BYTES + 1), "v"), (error: RaftError) => error.code === "EINVAL" && error.message.includes(`put: key of ${MAX_KEY_BYTES + 1} bytes is above MAX_KEY_BYTES ${MAX_KEY_BYTES}`));
    await assert.rejects(kv.put("k", new Uint8Array(MAX_VALUE_BYTES + 1)), (error: RaftError) => error.code === "EINVAL" && error.message.includes(`put: value of ${MAX_VALUE_BYTES + 1} bytes is above MAX_VALUE_BYTES ${MAX_VALUE_BYTES}`));
    await assert.rejects(kv.putAll(Array.from({ length: 10_001 }, (_, i) => ({ key: `k${i}`, value: "v" }))), (error: RaftError) => error.code === "EINVAL" && /10001 entries is above MAX_KEYS_PER_OP 10000/.test(error.message));
    // The server refuses a merge that would grow past the limit: that call only, nothing written.
    const big = new Uint8Array(700 * 1024).fill(0x61);
    await kv.merge("big", big);
    await assert.rejects(kv.merge("big", big), (error: RaftError) => error.code === "EINVAL" && /merge: the value would grow to 1433600 bytes, above MAX_VALUE_BYTES 1048576; nothing was written/.test(error.message));
    assert.equal((await kv.get("big"))!.byteLength, big.byteLength);

    // Raw frames to the "kv" service of each process: a malformed one is refused whole with EINVAL; the next is served.
    const get: KvCall = { kind: "read", consistency: "stale", op: { type: "get", key: bytes("k") } };
    const request = (payload: Uint8Array, address: string): Promise<Buffer> => cluster.transport.request(address, KV_SERVICE, payload, { timeoutMs: 5000 });
    const malformed = (pattern: RegExp) => (error: RaftError) => error.code === "EINVAL" && pattern.test(error.message);
    for (const address of cluster.ids) {
      await assert.rejects(request(Buffer.from("not a KV request"), address), malformed(/malformed KV request/));
      const frame = Buffer.from(encodeKvRequest({ groupId: PROCESS_GROUP, calls: [get] }));
      await assert.rejects(request(frame.subarray(0, frame.length - 3), address), malformed(/malformed KV request/), "a truncated frame");
      const unknownRead = Buffer.from(frame);
      unknownRead[13] = 99; // version, group id (4 + 2 bytes), call count (4), call kind, consistency, then the operation type
      await assert.rejects(request(unknownRead, address), malformed(/malformed KV request: .*read operation type/));
      await assert.rejects(request(Buffer.alloc(0), address), malformed(/malformed KV request/), "an empty frame");
      assert.deepEqual((await rawRequest(cluster, address, [get])).map((r) => r.type === "value" && text(r.value)), ["before"], `${address} serves the next request`);
    }
    const address = leader.serverId;
    const oversizedKey: KvCall = { kind: "write", clientId: "raw", seq: 1, firstUnackedSeq: 1, op: { type: "put", key: new Uint8Array(MAX_KEY_BYTES + 1), value: bytes("v") } };
    await assert.rejects(rawRequest(cluster, address, [oversizedKey]), malformed(/malformed KV request: .*key of 16385 bytes is above MAX_KEY_BYTES 16384/));
    const oversizedValue: KvCall = { kind: "write", clientId: "raw", seq: 1, firstUnackedSeq: 1, op: { type: "put", key: bytes("k"), value: new Uint8Array(MAX_VALUE_BYTES + 1) } };
    await assert.rejects(rawRequest(cluster, address, [oversizedValue]), malformed(/malformed KV request: .*value of 1048577 bytes is above MAX_VALUE_BYTES 1048576/));
    const otherGroup = encodeKvRequest({ groupId: "nope", calls: [get] });
    await assert.rejects(request(otherGroup, address), /EINVAL: KV group "nope" is not served by this process \(it serves "kv"\)/);

    // The processes all live on and the store works.
    assert.deepEqual(cluster.running(), [...cluster.ids]);
    const valid2: KvCall = { kind: "write", clientId: "raw", seq: 1, firstUnackedSeq: 1, op: { type: "put", key: bytes("k"), value: bytes("after") } };
    assert.deepEqual(await rawRequest(cluster, address, [valid2]), [{ type: "ok" }]);
    assert.equal(text(await kv.get("k")), "after");
    assert.deepEqual(JSON.parse((await cluster.kv("get", "k", "--json")).stdout), { key: "k", value: "after" });
    assert.equal((await cluster.waitLeader()).serverId, leader.serverId, "no election was caused");
  }),
);
