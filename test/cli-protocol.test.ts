/** The CLI service's wire format and its server side: every field of a request is checked; followers send clients to the leader. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliService } from "../src/cli/cli-service.js";
import { RaftError } from "../src/errors.js";
import { CLI_SERVICE, MAX_CLI_PAYLOAD_BYTES, decodeCliAnswer, decodeCliRequest, encodeCliRequest, type CliRequest } from "../src/node/cli-protocol.js";
import { nodeManager } from "../src/node/node-manager.js";
import { NodeCluster } from "./support/node-cluster.js";

const json = (value: unknown): Uint8Array => Buffer.from(typeof value === "string" ? value : JSON.stringify(value));

function refusal(payload: Uint8Array): RaftError {
  try {
    decodeCliRequest(payload);
  } catch (error) {
    assert.ok(error instanceof RaftError);
    return error;
  }
  assert.fail("the request was accepted");
}

test("requests survive encoding, and each malformed field is refused with EINVAL saying which", () => {
  const requests: CliRequest[] = [
    { op: "getLeader", groupId: "g" },
    { op: "getConfiguration", groupId: "g", peerId: "127.0.0.1:8081:1:100", onlyAlive: true },
    { op: "changeMembership", groupId: "g", change: { kind: "changePeers", peers: ["127.0.0.1:1", "127.0.0.1:2"] } },
    { op: "changeMembership", groupId: "g", change: { kind: "learner2Follower", peer: "127.0.0.1:3" } },
    { op: "transferLeader", groupId: "g", target: null },
    { op: "snapshot", groupId: "g", peerId: "h.example:9" },
    { op: "resetPeer", groupId: "g", peerId: "127.0.0.1:1", peers: ["127.0.0.1:1"] },
  ];
  for (const request of requests) assert.deepEqual(decodeCliRequest(encodeCliRequest(request)), request);

  const cases: [unknown, RegExp][] = [
    ["{not json", /not JSON/],
    [[1, 2], /the request must be a JSON object, got an array/],
    [{ op: "frobnicate", groupId: "g" }, /unknown op "frobnicate"/],
    [{ op: "getLeader" }, /groupId must be a string, got nothing/],
    [{ op: "getLeader", groupId: "" }, /groupId must be 1 to 256 bytes/],
    [{ op: "getLeader", groupId: "g", peerId: "localhost" }, /peerId: peer id "localhost" is not of the form host:port/],
    [{ op: "getLeader", groupId: "g", extra: 1 }, /unexpected field "extra"/],
    [{ op: "getConfiguration", groupId: "g", onlyAlive: "yes" }, /onlyAlive must be true or false/],
    [{ op: "transferLeader", groupId: "g" }, /target must be a peer id string, got nothing/],
    [{ op: "changeMembership", groupId: "g", change: { kind: "addPeer", peer: "127.0.0.1:70000" } }, /change.peer: .*port 70000 is above 65535/],
    [{ op: "changeMembership", groupId: "g", change: { kind: "addLearners", learners: ["127.0.0.1:1", "127.0.0.1:1"] } }, /lists 127.0.0.1:1 twice/],
    [{ op: "changeMembership", groupId: "g", change: { kind: "resetPeers", peers: [] } }, /unknown change.kind "resetPeers"/],
    [{ op: "changeMembership", groupId: "g", change: { kind: "changePeers", peers: "127.0.0.1:1" } }, /change.peers must be an array/],
    [{ op: "resetPeer", groupId: "g", peers: ["127.0.0.1:1"] }, /resetPeer needs the peerId to reset/],
    [{ op: "resetPeer", groupId: "g", peerId: "127.0.0.1:1", peers: [] }, /resetPeer needs at least one voter/],
  ];
  for (const [input, message] of cases) {
    const error = refusal(json(input));
    assert.equal(error.code, "EINVAL", String(input));
    assert.match(error.message, message);
  }
  assert.match(refusal(new Uint8Array(MAX_CLI_PAYLOAD_BYTES + 1)).message, /above the limit/);
});

test("a malformed answer is ECORRUPT naming the peer", () => {
  assert.deepEqual(decodeCliAnswer("getLeader", json({ leaderId: null, term: 3 }), "127.0.0.1:1"), { leaderId: null, term: 3 });
  const cases: [Parameters<typeof decodeCliAnswer>[0], unknown][] = [
    ["getLeader", { leaderId: "x", term: 1 }],
    ["getLeader", { leaderId: null, term: -1 }],
    ["getConfiguration", { peers: ["127.0.0.1:1"] }],
    ["snapshot", { snapshot: { index: 1.5, term: 1 } }],
    ["changeMembership", { before: { peers: [], learners: [] } }],
  ];
  for (const [op, answer] of cases) {
    assert.throws(() => decodeCliAnswer(op, json(answer), "127.0.0.1:1"), (error: unknown) => error instanceof RaftError && error.code === "ECORRUPT" && /from 127\.0\.0\.1:1/.test(error.message), op);
  }
});

test("every node's transport serves the CLI: bad requests get EINVAL, a follower answers ENOTLEADER with the leader", async () => {
  const cluster = await NodeCluster.create(3, {}, 7401);
  try {
    const leader = await cluster.waitLeader();
    const follower = cluster.followers()[0]!;
    assert.deepEqual(nodeManager.nodesOf("g").map((n) => n.serverId).sort(), [...cluster.initialIds].sort());
    assert.equal(nodeManager.get("g", leader.serverId), leader);
    const client = cluster.network.createTransport({ address: "127.0.0.1:7499", clusterName: "test" });
    const ask = (body: unknown): Promise<unknown> => client.request(follower.serverId, CLI_SERVICE, json(body)).then((answer) => JSON.parse(answer.toString()));
    const codeAndHint = (body: unknown): Promise<string> =>
      ask(body).then(
        () => "answered",
        (error: RaftError) => `${error.code} ${error.leaderHint ?? "-"}`,
      );

    assert.deepEqual(await ask({ op: "getLeader", groupId: "g" }), { leaderId: leader.serverId, term: leader.term });
    assert.equal(await codeAndHint("not json"), "EINVAL -");
    assert.equal(await codeAndHint({ op: "getLeader", groupId: "other" }), "EINVAL -");
    // A node of another group starting on the follower's transport (loading its log): retry, not "no such group".
    const started = nodeManager.starting("other", cluster.member(follower.serverId).transport);
    assert.equal(await codeAndHint({ op: "getLeader", groupId: "other" }), "EAGAIN -");
    started();
    assert.equal(await codeAndHint({ op: "getLeader", groupId: "other" }), "EINVAL -", "and once it started or failed, the group is unknown again");
    assert.equal(await codeAndHint({ op: "getLeader", groupId: "g", peerId: "127.0.0.1:7777" }), "EINVAL -");
    assert.equal(await codeAndHint({ op: "getConfiguration", groupId: "g", onlyAlive: false }), `ENOTLEADER ${leader.serverId}`);
    assert.equal(await codeAndHint({ op: "transferLeader", groupId: "g", target: null }), `ENOTLEADER ${leader.serverId}`);
    assert.equal(await codeAndHint({ op: "changeMembership", groupId: "g", change: { kind: "addPeer", peer: "127.0.0.1:7010" } }), `ENOTLEADER ${leader.serverId}`);

    // The same service over the in-memory transport, through CliService.
    const cli = new CliService(client, { timeoutMs: 3000 });
    assert.deepEqual(await cli.getPeers("g", follower.serverId), [...cluster.initialIds].sort());
    await client.close();
  } finally {
    await cluster.destroy();
  }
  assert.deepEqual(nodeManager.nodesOf("g"), [], "nodes leave the NodeManager when they shut down");
});
