/**
 * CliService against 3-node groups over real TCP on loopback (in-process
 * nodes): every operation, redirects from followers, membership changes
 * (thesis §4), leadership transfer (thesis §3.10), and the errors an operator
 * meets (no quorum, unreachable cluster, wrong group, bad peer id).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CliService } from "../src/cli/cli-service.js";
import { RaftError } from "../src/errors.js";
import type { TcpTransport } from "../src/transport/tcp-transport.js";
import type { Transport } from "../src/transport/transport.js";
import { bytes, codeOf, waitFor } from "./support/node-cluster.js";
import { TcpGroups, clientTransport } from "./support/tcp-groups.js";

let transport: TcpTransport;
let cli: CliService;

before(async () => {
  transport = await clientTransport();
  cli = new CliService(transport, { timeoutMs: 5000 });
});

after(async () => {
  await transport.close();
});

async function withGroups(run: (groups: TcpGroups) => Promise<void>): Promise<void> {
  const groups = await TcpGroups.create(3, ["g"]);
  try {
    await run(groups);
  } finally {
    await groups.destroy();
  }
}

/** Polls `read` until `ok` holds; the last value read is in the error. */
async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last read ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sorted = (ids: readonly string[]): string[] => [...ids].sort();

test("getLeader, getPeers and getConfiguration through a follower's address alone find the leader", () =>
  withGroups(async (groups) => {
    const leader = await groups.waitLeader("g");
    const follower = groups.ids.find((id) => id !== leader.serverId)!;
    assert.equal(await cli.getLeader("g", follower), leader.serverId);
    assert.deepEqual(await cli.getPeers("g", follower), sorted(groups.ids));
    assert.deepEqual(await cli.getLearners("g", follower), []);
    const conf = await cli.getConfiguration("g", { peers: [follower], learners: [] });
    assert.deepEqual(conf, { leaderId: leader.serverId, peers: sorted(groups.ids), learners: [] });
    assert.deepEqual(await cli.getAlivePeers("g", follower), sorted(groups.ids));
  }));

test("addPeer of a new node that catches up through a follower's address, then removePeer", () =>
  withGroups(async (groups) => {
    const leader = await groups.waitLeader("g");
    for (let i = 0; i < 20; i++) await leader.apply({ data: bytes(`e${i}`) });
    const follower = groups.ids.find((id) => id !== leader.serverId)!;
    const newId = await groups.addProcess();
    const joining = await groups.startNode(newId, "g");

    const added = await cli.addPeer("g", follower, newId);
    assert.deepEqual(added.before.peers, sorted(groups.ids.filter((id) => id !== newId)));
    assert.deepEqual(added.after.peers, sorted(groups.ids));
    await waitFor(() => joining.sm.applied.length === 20, 5000, "the new voter catches up");
    assert.deepEqual(joining.sm.texts(), Array.from({ length: 20 }, (_, i) => `e${i}`));

    const removed = await cli.removePeer("g", groups.ids.join(","), follower);
    assert.deepEqual(removed.after.peers, sorted(groups.ids.filter((id) => id !== follower)));
    assert.deepEqual(await cli.getPeers("g", newId), removed.after.peers);
    const notVoter = await cli.removePeer("g", newId, "127.0.0.1:9").catch((error: unknown) => error);
    assert.ok(notVoter instanceof RaftError && notVoter.code === "EINVAL", String(notVoter));
    assert.match(notVoter.message, /127\.0\.0\.1:9 is not a voter/);
  }));

test("changePeers replaces two voters at once (joint consensus, thesis §4.3)", () =>
  withGroups(async (groups) => {
    const leader = await groups.waitLeader("g");
    const [d, e] = [await groups.addProcess(), await groups.addProcess()];
    const joining = [await groups.startNode(d, "g"), await groups.startNode(e, "g")];
    const oldIds = groups.ids.filter((id) => id !== d && id !== e);
    const next = [leader.serverId, d, e];
    const changed = await cli.changePeers("g", oldIds.join(","), next);
    assert.deepEqual(changed.before.peers, sorted(oldIds));
    assert.deepEqual(changed.after.peers, sorted(next));
    await leader.apply({ data: bytes("after-change") });
    await waitFor(() => joining.every((m) => m.sm.texts().includes("after-change")), 5000, "the new voters apply");
    assert.deepEqual(await cli.getPeers("g", d), sorted(next));
  }));

test("learners: addLearners, getAliveLearners, learner2Follower, removeLearners, resetLearners", () =>
  withGroups(async (groups) => {
    const leader = await groups.waitLeader("g");
    const voters = [...groups.ids];
    const [l1, l2] = [await groups.addProcess(), await groups.addProcess()];
    const learners = [await groups.startNode(l1, "g"), await groups.startNode(l2, "g")];
    const conf = voters.join(",");

    const added = await cli.addLearners("g", conf, [l1, l2]);
    assert.deepEqual(added.after, { peers: sorted(voters), learners: sorted([l1, l2]) });
    assert.deepEqual(await cli.getLearners("g", conf), sorted([l1, l2]));
    await leader.apply({ data: bytes("to-learners") });
    await waitFor(() => learners.every((m) => m.sm.texts().includes("to-learners")), 5000, "learners apply");
    await eventually(() => cli.getAliveLearners("g", conf), (ids) => ids.join() === sorted([l1, l2]).join(), 3000, "both learners alive");

    const promoted = await cli.learner2Follower("g", `${conf},${l1}/learner,${l2}/learner`, l1);
    assert.deepEqual(promoted.after, { peers: sorted([...voters, l1]), learners: [l2] });
    assert.equal(await codeOf(cli.learner2Follower("g", conf, voters[0]!)), "EINVAL");

    assert.deepEqual((await cli.removeLearners("g", conf, `${l2}/learner`)).after.learners, []);
    assert.deepEqual((await cli.resetLearners("g", conf, [l2])).after.learners, [l2]);
    assert.deepEqual((await cli.resetLearners("g", conf, "")).after.learners, []);
    assert.equal(await codeOf(cli.addLearners("g", conf, [voters[0]!])), "EINVAL"); // a voter cannot also be a learner
  }));

test("transferLeader to a named peer waits until it leads; then to any; snapshot on a peer", () =>
  withGroups(async (groups) => {
    const leader = await groups.waitLeader("g");
    await leader.apply({ data: bytes("before-transfer") });
    const target = groups.ids.find((id) => id !== leader.serverId)!;
    const conf = groups.ids.join(",");

    assert.equal(await cli.transferLeader("g", conf, target), target);
    assert.equal(groups.node(target, "g").state, "leader");
    assert.equal(await cli.transferLeader("g", conf, target), target); // already the leader: nothing to do
    const next = await cli.transferLeader("g", conf, "any");
    assert.notEqual(next, target);
    assert.equal((await groups.waitLeader("g")).serverId, next);

    const other = groups.ids.find((id) => id !== next)!;
    await waitFor(() => groups.node(other, "g").appliedIndex === groups.node(next, "g").appliedIndex, 5000, "the peer applies everything");
    const snapshot = await cli.snapshot("g", conf, other);
    assert.ok(snapshot !== null && snapshot.index === groups.node(other, "g").appliedIndex, JSON.stringify(snapshot));
    assert.equal(await cli.snapshot("g", conf, other), null); // nothing applied since
    assert.equal(groups.node(other, "g").describe().snapshot.lastIndex, snapshot.index);
  }));

test("getAlivePeers leaves out a stopped peer, getPeers keeps it", () =>
  withGroups(async (groups) => {
    const leader = await groups.waitLeader("g");
    const stopped = groups.ids.find((id) => id !== leader.serverId)!;
    const conf = groups.ids.join(",");
    await groups.stopProcess(stopped);
    const alive = sorted(groups.ids);
    const seen = await eventually(() => cli.getAlivePeers("g", conf), (ids) => ids.join() === alive.join(), 3000, "the stopped peer to drop out of the alive peers");
    assert.deepEqual(seen, alive);
    assert.deepEqual(await cli.getPeers("g", conf), sorted([...alive, stopped]));
  }));

test("errors: no quorum (ENOTLEADER), an unreachable cluster (EAGAIN), a wrong group and a bad peer id (EINVAL)", () =>
  withGroups(async (groups) => {
    const leader = await groups.waitLeader("g");
    const conf = groups.ids.join(",");
    const wrongGroup = await cli.getLeader("no-such-group", conf).catch((error: unknown) => error);
    assert.ok(wrongGroup instanceof RaftError && wrongGroup.code === "EINVAL", String(wrongGroup));
    assert.match(wrongGroup.message, /group "no-such-group" has no peer in this process/);

    const badId = await cli.addPeer("g", conf, "127.0.0.1").catch((error: unknown) => error);
    assert.ok(badId instanceof RaftError && badId.code === "EINVAL");
    assert.match(badId.message, /host:port\[:idx\[:priority\]\]/);
    assert.equal(await codeOf(cli.getLeader("g", "127.0.0.1:8081,,127.0.0.1:8082")), "EINVAL");

    const unreachable = await cli.getLeader("g", "127.0.0.1:1,127.0.0.1:2").catch((error: unknown) => error);
    assert.ok(unreachable instanceof RaftError && unreachable.code === "EAGAIN", String(unreachable));
    assert.match(unreachable.message, /no peer of group "g" can be reached/);

    for (const id of groups.ids.filter((id) => id !== leader.serverId)) await groups.stopProcess(id);
    const shortCli = new CliService(transport, { timeoutMs: 1500 });
    await waitFor(() => leader.state !== "leader", 3000, "the leader steps down without a quorum (check quorum)");
    const noQuorum = await shortCli.getLeader("g", conf).catch((error: unknown) => error);
    assert.ok(noQuorum instanceof RaftError && noQuorum.code === "ENOTLEADER", String(noQuorum));
    assert.match(noQuorum.message, /has no leader after \d+ ms .*quorum/);
  }));

/** The client transport, except that every getLeader answer names `staleLeader`: the op then meets ENOTLEADER. */
function staleLeaderTransport(inner: Transport, staleLeader: string, opsTo: string[]): Transport {
  return {
    get localAddress() {
      return inner.localAddress;
    },
    registerGroup: (groupId, nodeId, onMessage) => inner.registerGroup(groupId, nodeId, onMessage),
    unregisterGroup: (groupId, nodeId) => inner.unregisterGroup(groupId, nodeId),
    sendRaft: (groupId, message) => inner.sendRaft(groupId, message),
    handle: (service, handler) => inner.handle(service, handler),
    stats: () => inner.stats(),
    close: () => inner.close(),
    request: (address, service, payload, options) => {
      const request = JSON.parse(Buffer.from(payload).toString("utf8")) as { op: string };
      if (request.op === "getLeader") return Promise.resolve(Buffer.from(JSON.stringify({ leaderId: staleLeader, term: 1_000_000 })));
      opsTo.push(`${request.op}@${address}`);
      return inner.request(address, service, payload, options);
    },
  };
}

test("an operation sent to a stale leader follows ENOTLEADER's leader hint", () =>
  withGroups(async (groups) => {
    const leader = await groups.waitLeader("g");
    const follower = groups.ids.find((id) => id !== leader.serverId)!;
    const opsTo: string[] = [];
    const misled = new CliService(staleLeaderTransport(transport, follower, opsTo), { timeoutMs: 5000 });
    const learner = await groups.addProcess();
    await groups.startNode(learner, "g");
    const changed = await misled.addLearners("g", follower, [learner]);
    assert.deepEqual(changed.after.learners, [learner]);
    assert.deepEqual(opsTo, [`changeMembership@${follower}`, `changeMembership@${leader.serverId}`]);
  }));

test("resetPeer: a lone survivor of three, forced to lead alone, serves again; bad requests are EINVAL", () =>
  withGroups(async (groups) => {
    const leader = await groups.waitLeader("g");
    await leader.apply({ data: bytes("before") });
    const [survivor, ...lost] = groups.ids;
    // A commit needs a majority, not the survivor: it must hold the entry before the others go.
    await waitFor(() => groups.member(survivor!, "g").sm.texts().includes("before"), 5000, "the survivor to apply the entry");
    for (const id of lost) await groups.stopProcess(id);
    assert.equal(await codeOf(cli.resetPeer("g", survivor!, [])), "EINVAL");
    assert.equal(await codeOf(cli.resetPeer("g", survivor!, "nonsense")), "EINVAL");
    const conf = await cli.resetPeer("g", survivor!, [survivor!]);
    assert.deepEqual(conf.peers, [survivor]);
    assert.equal(await cli.getLeader("g", [survivor!].join(",")), survivor);
    const node = groups.node(survivor!, "g");
    await node.apply({ data: bytes("after") });
    assert.deepEqual(groups.member(survivor!, "g").sm.texts(), ["before", "after"]);
  }));
