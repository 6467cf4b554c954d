/**
 * Membership at runtime with real processes and TCP (issue 5): `tsraft serve`
 * children on loopback, changed by a CliService in the test process as an
 * operator would, while KvClients write. The cluster grows 3 → 5 → 3 under a
 * client that writes without pause (the leader removed too) and loses no
 * acknowledged write; a node is replaced; a learner catches up and is
 * promoted; leadership goes to a named peer; a group that lost its majority
 * is recovered with resetPeer; a `--join` server alone never elects itself.
 * A client started with the old server list keeps working throughout.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { CliService } from "../src/cli/cli-service.js";
import type { NodeId } from "../src/core/types.js";
import { RaftError } from "../src/errors.js";
import { toText } from "../src/kv/bytes.js";
import type { KvClient } from "../src/kv/kv-client.js";
import { ContinuousWriter, SERVE_GROUP, ServeCluster, eventually, sleep, type WriteRecord } from "./support/serve-cluster.js";

const ELECTION_TIMEOUT_MS = 500;
/**
 * The client's own share of a write gap: from a new leader announcing itself
 * to the client's next acknowledged write. While no member it asks knows a
 * leader, KvClient (through CliService.findLeader) probes again after 50, 100,
 * 200, 400, then every 500 ms, so it may learn of a new leader up to 500 ms
 * late. Each test measures this share and checks it stays below the allowance.
 */
const BACKOFF_ALLOWANCE_MS = 500;
/** The bound: no error window longer than two election timeouts, plus the client's backoff. */
const MAX_WRITE_GAP_MS = 2 * ELECTION_TIMEOUT_MS + BACKOFF_ALLOWANCE_MS;

const sorted = (ids: readonly NodeId[]): NodeId[] => [...ids].sort();

async function withCluster(t: TestContext, run: (cluster: ServeCluster) => Promise<void>): Promise<void> {
  const cluster = await ServeCluster.create({ electionTimeoutMs: ELECTION_TIMEOUT_MS });
  // A test that times out is aborted while its body may still wait: its processes go at once.
  const onAbort = (): void => {
    console.error(`${t.name}: aborted; server output:\n${cluster.report()}`);
    void cluster.destroy();
  };
  t.signal.addEventListener("abort", onAbort, { once: true });
  try {
    await run(cluster);
  } catch (error) {
    t.diagnostic("server output follows on stderr");
    console.error(cluster.report());
    throw error;
  } finally {
    t.signal.removeEventListener("abort", onAbort);
    await cluster.destroy();
  }
}

/** Every acknowledged write, read back with a linearizable get from `client`: present with its value. */
async function assertAllReadable(client: KvClient, writes: readonly WriteRecord[]): Promise<void> {
  const chunk = 256;
  for (let i = 0; i < writes.length; i += chunk) {
    const part = writes.slice(i, i + chunk);
    const values = await Promise.all(part.map((write) => client.get(write.key)));
    part.forEach((write, j) => {
      const value = values[j];
      assert.ok(value !== null && value !== undefined, `acknowledged write ${write.key} is lost`);
      assert.equal(toText(value), write.value, `acknowledged write ${write.key} reads back its value`);
    });
  }
}

/** Sequential puts of keys `${prefix}0..count-1`, each acknowledged. */
async function putMany(client: KvClient, prefix: string, count: number): Promise<WriteRecord[]> {
  const writes: WriteRecord[] = [];
  for (let i = 0; i < count; i++) {
    const key = `${prefix}${i}`;
    const value = `${prefix}-value-${i}`;
    await client.put(key, value);
    writes.push({ key, value, atMs: Date.now() });
  }
  return writes;
}

/** Waits until `member` alone, read "stale" (as it is, no leader involved), holds `write`. */
async function caughtUp(cluster: ServeCluster, member: NodeId, write: WriteRecord, timeoutMs = 10_000): Promise<void> {
  const alone = cluster.client([member], { timeoutMs: 2000 });
  await eventually(
    async () => {
      const value = await alone.get(write.key, { consistency: "stale" });
      return value === null ? null : toText(value);
    },
    (value) => value === write.value,
    timeoutMs,
    `${member} to hold ${write.key} (stale read on it alone)`,
  );
  await alone.close();
}

/**
 * A leader change that began at `sinceMs`: how long until a new leader announced
 * itself (its "became the leader" line), and how long after that the writer's
 * next write was acknowledged — the client's own share of the gap (finding the
 * new leader, its retry backoff).
 */
function leaderChange(t: TestContext, cluster: ServeCluster, writer: ContinuousWriter, sinceMs: number, what: string): { leader: NodeId; electedAfterMs: number; clientMs: number } {
  const elected = cluster.leaderElectedSince(sinceMs);
  assert.ok(elected !== null, `a leader was elected after ${what}`);
  const ack = writer.firstAckSince(elected.atMs);
  assert.ok(ack !== null, `a write was acknowledged after ${elected.id} became the leader`);
  const result = { leader: elected.id, electedAfterMs: elected.atMs - sinceMs, clientMs: ack.atMs - elected.atMs };
  t.diagnostic(`${what}: ${elected.id} became the leader ${result.electedAfterMs} ms later; the writer's next ack came ${result.clientMs} ms after that`);
  assert.ok(result.clientMs < BACKOFF_ALLOWANCE_MS, `the client took ${result.clientMs} ms to write again once ${elected.id} led (allowance ${BACKOFF_ALLOWANCE_MS} ms)`);
  return result;
}

function reportGaps(t: TestContext, writer: ContinuousWriter): void {
  const longest = writer.longestGap();
  t.diagnostic(`writes acknowledged ${writer.acked.length}, errors ${writer.errors.length}, longest gap ${longest.ms} ms (allowed ${MAX_WRITE_GAP_MS})`);
  for (const phase of writer.gapsByPhase()) t.diagnostic(`  ${phase.phase}: longest gap ${phase.longestGapMs} ms, ${phase.acked} writes`);
}

test("grow 3 → 5 → 3 (the leader removed too) while a client of the original list writes without pause: no write lost, no long gap", { timeout: 60_000 }, (t) =>
  withCluster(t, async (cluster) => {
    const { cli } = cluster;
    await cluster.reservePorts(5);
    const original = await cluster.found(3);
    const [joinerA, joinerB] = await Promise.all([cluster.join(), cluster.join()]);
    const originalList = original.join(",");
    await cluster.leader(original);

    const writer = new ContinuousWriter(cluster.client(originalList));
    writer.start();
    try {
      await writer.waitAcked(100);

      writer.mark(`addPeer ${joinerA}`);
      let change = await cli.addPeer(SERVE_GROUP, originalList, joinerA!);
      assert.deepEqual(sorted(change.after.peers), sorted([...original, joinerA!]));
      await writer.waitAcked(100);

      writer.mark(`addPeer ${joinerB}`);
      change = await cli.addPeer(SERVE_GROUP, originalList, joinerB!);
      const five = sorted([...original, joinerA!, joinerB!]);
      assert.deepEqual(sorted(change.after.peers), five);
      assert.deepEqual(sorted(await cli.getPeers(SERVE_GROUP, originalList)), five);
      await writer.waitAcked(100);

      // Shrink: first the leader itself, then another founder.
      const oldLeader = await cluster.leader(five);
      writer.mark(`removePeer ${oldLeader} (the leader)`);
      const removalMs = Date.now();
      change = await cli.removePeer(SERVE_GROUP, five.join(","), oldLeader);
      const four = five.filter((id) => id !== oldLeader);
      assert.deepEqual(sorted(change.after.peers), four);
      await writer.waitAcked(100);
      const newLeader = await cluster.leader(four);
      assert.notEqual(newLeader, oldLeader, "the removed leader handed over");
      assert.ok(four.includes(newLeader));
      const handover = leaderChange(t, cluster, writer, removalMs, `removePeer of the leader ${oldLeader}`);
      assert.equal(handover.leader, newLeader);
      // The group is without a leader for less than two election timeouts (the removed leader
      // hands over with TimeoutNow when its successor is up to date, otherwise the timers elect one).
      assert.ok(handover.electedAfterMs < 2 * ELECTION_TIMEOUT_MS, `a leader again ${handover.electedAfterMs} ms after the removal began`);

      const secondRemoved = original.find((id) => id !== oldLeader && id !== newLeader)!;
      writer.mark(`removePeer ${secondRemoved}`);
      change = await cli.removePeer(SERVE_GROUP, four.join(","), secondRemoved);
      const final = four.filter((id) => id !== secondRemoved);
      assert.deepEqual(sorted(change.after.peers), final);
      assert.equal(final.length, 3);
      assert.deepEqual(sorted(await cli.getPeers(SERVE_GROUP, final.join(","))), final);

      // The removed servers still run for a few election timeouts: they must not disturb the group.
      writer.mark("removed servers still running");
      await sleep(3 * ELECTION_TIMEOUT_MS);
      await writer.waitAcked(50);

      writer.mark("removed servers stopped (SIGTERM)");
      assert.equal(await cluster.stop(oldLeader, "SIGTERM"), 0);
      assert.equal(await cluster.stop(secondRemoved, "SIGTERM"), 0);
      // The writer's list now names two stopped servers and one member: it keeps going.
      await writer.waitAcked(200);
    } finally {
      await writer.stop();
    }
    reportGaps(t, writer);
    const final = sorted([...cluster.servers.keys()]);
    const fresh = cluster.client(final.join(","));
    for (const error of writer.errors) {
      const value = await fresh.get(error.key);
      t.diagnostic(`failed write ${error.key} at +${error.atMs - writer.startedAtMs} ms (${error.message}); applied after all: ${value === null ? "no" : "yes"}`);
    }
    assert.deepEqual(writer.errors, [], "no write failed");
    const longest = writer.longestGap();
    assert.ok(longest.ms < MAX_WRITE_GAP_MS, `the longest stretch without an acknowledged write was ${longest.ms} ms, above 2 × ${ELECTION_TIMEOUT_MS} + ${BACKOFF_ALLOWANCE_MS} ms`);

    await assertAllReadable(fresh, writer.acked);
    t.diagnostic(`all ${writer.acked.length} acknowledged writes read back from ${final.join(",")}`);

    // A client started only now with the old list (two of its three servers gone) works too.
    const late = cluster.client(originalList);
    await late.put("late", "yes");
    assert.equal(toText((await late.get("late"))!), "yes");
    assert.equal(toText((await fresh.get("late"))!), "yes");
  }),
);

test("replace a node with changePeers: the new one catches up and is alive; the replaced one can go", { timeout: 40_000 }, (t) =>
  withCluster(t, async (cluster) => {
    const { cli } = cluster;
    await cluster.reservePorts(4);
    const founders = await cluster.found(3);
    const newcomer = await cluster.join();
    const list = founders.join(",");
    const kv = cluster.client(list);
    const before = await putMany(kv, "r", 100);

    const leader = await cluster.leader(founders);
    const replaced = founders.find((id) => id !== leader)!;
    const wanted = sorted([...founders.filter((id) => id !== replaced), newcomer]);
    const writer = new ContinuousWriter(kv);
    writer.start();
    try {
      await writer.waitAcked(50);
      writer.mark(`changePeers ${replaced} → ${newcomer}`);
      const change = await cli.changePeers(SERVE_GROUP, list, wanted);
      assert.deepEqual(sorted(change.before.peers), sorted(founders));
      assert.deepEqual(sorted(change.after.peers), wanted);
      assert.deepEqual(change.after.learners, []);
      await writer.waitAcked(100);
    } finally {
      await writer.stop();
    }
    reportGaps(t, writer);
    assert.deepEqual(writer.errors, []);
    assert.ok(writer.longestGap().ms < MAX_WRITE_GAP_MS, `longest gap ${writer.longestGap().ms} ms`);

    assert.deepEqual(sorted(await cli.getPeers(SERVE_GROUP, list)), wanted);
    await caughtUp(cluster, newcomer, writer.acked.at(-1)!);
    const alive = await eventually(() => cli.getAlivePeers(SERVE_GROUP, wanted.join(",")), (peers) => peers.includes(newcomer), 5000, `${newcomer} among the alive peers`);
    assert.deepEqual(sorted(alive), wanted);

    assert.equal(await cluster.stop(replaced, "SIGTERM"), 0);
    const after = await putMany(kv, "s", 20);
    await caughtUp(cluster, newcomer, after.at(-1)!);
    await assertAllReadable(cluster.client([newcomer]), [...before, ...writer.acked, ...after]);
  }),
);

test("a learner catches up, is promoted with learner2Follower, and counts in the quorum once the old leader is gone", { timeout: 40_000 }, (t) =>
  withCluster(t, async (cluster) => {
    const { cli } = cluster;
    await cluster.reservePorts(4);
    const founders = await cluster.found(3);
    const learner = await cluster.join();
    const list = founders.join(",");
    const kv = cluster.client(list);
    const before = await putMany(kv, "l", 200);

    const added = await cli.addLearners(SERVE_GROUP, list, [learner]);
    assert.deepEqual(added.after.learners, [learner]);
    assert.deepEqual(sorted(added.after.peers), sorted(founders));
    assert.deepEqual(await cli.getLearners(SERVE_GROUP, list), [learner]);
    assert.ok(!(await cli.getPeers(SERVE_GROUP, list)).includes(learner), "a learner is not a voter");
    await caughtUp(cluster, learner, before.at(-1)!);
    await eventually(() => cli.getAliveLearners(SERVE_GROUP, list), (learners) => learners.includes(learner), 5000, `${learner} among the alive learners`);

    const promoted = await cli.learner2Follower(SERVE_GROUP, list, learner);
    const four = sorted([...founders, learner]);
    assert.deepEqual(sorted(promoted.after.peers), four);
    assert.deepEqual(promoted.after.learners, []);
    assert.deepEqual(sorted(await cli.getPeers(SERVE_GROUP, list)), four);
    assert.deepEqual(await cli.getLearners(SERVE_GROUP, list), []);

    // Four voters, the old leader crashes: the three left (the promoted one among them) are exactly a quorum.
    const writer = new ContinuousWriter(kv);
    writer.start();
    let oldLeader: NodeId;
    let killedAtMs = 0;
    try {
      await writer.waitAcked(50);
      oldLeader = await cluster.leader(four);
      writer.mark(`SIGKILL the leader ${oldLeader}`);
      killedAtMs = Date.now();
      await cluster.stop(oldLeader, "SIGKILL");
      await writer.waitAcked(100);
    } finally {
      await writer.stop();
    }
    reportGaps(t, writer);
    const survivors = four.filter((id) => id !== oldLeader!);
    const newLeader = await cluster.leader(survivors);
    assert.notEqual(newLeader, oldLeader!);
    // A crash is found by the election timers (randomized in [1, 2) election timeouts), then a vote
    // that needs all three survivors, the promoted learner included.
    const change = leaderChange(t, cluster, writer, killedAtMs, `SIGKILL of the leader ${oldLeader!}`);
    assert.equal(change.leader, newLeader);
    assert.ok(change.electedAfterMs >= ELECTION_TIMEOUT_MS - 100, `no election before the followers' timers ran out (${change.electedAfterMs} ms)`);
    assert.deepEqual(writer.errors, []);
    const fresh = cluster.client(survivors);
    await assertAllReadable(fresh, [...before, ...writer.acked]);
    await caughtUp(cluster, learner, writer.acked.at(-1)!);
  }),
);

test("transferLeader to a named peer: getLeader answers that peer and the writes go on", { timeout: 30_000 }, (t) =>
  withCluster(t, async (cluster) => {
    const { cli } = cluster;
    await cluster.reservePorts(3);
    const founders = await cluster.found(3);
    const list = founders.join(",");
    let leader = await cluster.leader(founders);
    const writer = new ContinuousWriter(cluster.client(list));
    writer.start();
    try {
      await writer.waitAcked(100);
      // Twice, to each follower in turn: the named peer leads, not just any other.
      for (const target of founders.filter((id) => id !== leader)) {
        writer.mark(`transferLeader ${leader} → ${target}`);
        const startedMs = Date.now();
        assert.equal(await cli.transferLeader(SERVE_GROUP, list, target), target);
        assert.equal(await cli.getLeader(SERVE_GROUP, list), target);
        await writer.waitAcked(100);
        const change = leaderChange(t, cluster, writer, startedMs, `transferLeader to ${target}`);
        assert.equal(change.leader, target, "the named peer was the one elected");
        // A handover: the target campaigns at once (TimeoutNow), nobody waits for an election timeout.
        assert.ok(change.electedAfterMs < ELECTION_TIMEOUT_MS, `${target} led ${change.electedAfterMs} ms after the transfer began`);
        assert.equal(await cli.getLeader(SERVE_GROUP, list), target, "still the leader after 100 more writes");
        leader = target;
      }
    } finally {
      await writer.stop();
    }
    reportGaps(t, writer);
    assert.deepEqual(writer.errors, []);
    assert.ok(writer.longestGap().ms < MAX_WRITE_GAP_MS, `longest gap ${writer.longestGap().ms} ms`);
    await assertAllReadable(cluster.client(list), writer.acked);
  }),
);

test("a majority lost for good: writes fail within their timeout; resetPeer on the survivor serves again, nothing acknowledged lost; a fresh peer joins", { timeout: 40_000 }, (t) =>
  withCluster(t, async (cluster) => {
    const { cli } = cluster;
    await cluster.reservePorts(4);
    const founders = await cluster.found(3);
    const spare = await cluster.join();
    const list = founders.join(",");
    const kv = cluster.client(list, { timeoutMs: 2000 });
    const before = await putMany(kv, "m", 200);

    const leader = await cluster.leader(founders);
    const survivor = founders.find((id) => id !== leader)!;
    // resetPeer keeps what the survivor has: it must hold every acknowledged write (a commit
    // needs only two of three, so a lagging third could miss the last ones) — wait until it does.
    await caughtUp(cluster, survivor, before.at(-1)!);
    for (const id of founders.filter((id) => id !== survivor)) await cluster.stop(id, "SIGKILL"); // the leader among them

    const failedAt = Date.now();
    await assert.rejects(kv.put("lost", "x"), (error: unknown) => {
      assert.ok(error instanceof RaftError);
      assert.equal(error.code, "ETIMEDOUT");
      assert.match(error.message, /ENOTLEADER|EAGAIN|ETIMEDOUT/);
      return true;
    });
    const failedInMs = Date.now() - failedAt;
    t.diagnostic(`a write without a majority failed after ${failedInMs} ms (client timeout 2000 ms)`);
    assert.ok(failedInMs >= 1900 && failedInMs < 3000, `a write fails at its deadline, took ${failedInMs} ms`);
    const noLeader = new CliService(cluster.transport, { timeoutMs: 1500 });
    await assert.rejects(noLeader.getLeader(SERVE_GROUP, list), (error: unknown) => error instanceof RaftError && error.code === "ENOTLEADER");

    const forced = await cli.resetPeer(SERVE_GROUP, survivor, [survivor]);
    assert.deepEqual(forced.peers, [survivor]);
    assert.equal(await eventually(() => cluster.leader([survivor]), (id) => id === survivor, 5000, `${survivor} to lead`), survivor);
    assert.match(cluster.server(survivor).output, /became the leader in term \d+/);

    // The client of the old list: two of its servers are dead, it finds the survivor.
    const after = await putMany(kv, "n", 50);
    const fresh = cluster.client([survivor]);
    await assertAllReadable(fresh, [...before, ...after]);

    const change = await cli.addPeer(SERVE_GROUP, survivor, spare);
    const pair = sorted([survivor, spare]);
    assert.deepEqual(sorted(change.after.peers), pair);
    assert.deepEqual(sorted(await cli.getPeers(SERVE_GROUP, survivor)), pair);
    await caughtUp(cluster, spare, after.at(-1)!);
    const more = await putMany(kv, "o", 20); // two voters: both needed, so the new one votes and acknowledges
    await caughtUp(cluster, spare, more.at(-1)!);
    await assertAllReadable(cluster.client([spare]), [...before, ...after, ...more]);
  }),
);

test("a --join server alone never elects itself: no leader for several election timeouts, writes to it are refused", { timeout: 20_000 }, (t) =>
  withCluster(t, async (cluster) => {
    await cluster.reservePorts(1);
    const lonely = await cluster.join();
    await sleep(4 * ELECTION_TIMEOUT_MS);
    const quick = new CliService(cluster.transport, { timeoutMs: 1500 });
    const kv = cluster.client([lonely], { timeoutMs: 1500 });
    const noLeader = (error: unknown): boolean => error instanceof RaftError && error.code === "ENOTLEADER";
    await Promise.all([
      assert.rejects(quick.getLeader(SERVE_GROUP, lonely), noLeader),
      assert.rejects(quick.getPeers(SERVE_GROUP, lonely), noLeader),
      assert.rejects(kv.put("k", "v"), (error: unknown) => {
        assert.ok(error instanceof RaftError);
        assert.equal(error.code, "ETIMEDOUT");
        assert.match(error.message, /ENOTLEADER|EAGAIN/);
        t.diagnostic(`a write to it: ${error.message}`);
        return true;
      }),
    ]);
    assert.equal(await kv.get("k", { consistency: "stale" }), null, "it serves stale reads of nothing");
    const output = cluster.server(lonely).output;
    assert.doesNotMatch(output, /became the leader|following /, "it neither led nor followed anyone");
  }),
);
