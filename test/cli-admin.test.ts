/**
 * `tsraft admin` as a child process against in-process nodes over real TCP:
 * readable and --json output, and a clear line with a non-zero exit code for
 * a bad peer id, a missing option, an unreachable cluster, a failed catch-up
 * and a group without quorum.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { bytes, waitFor } from "./support/node-cluster.js";
import { TEST_CLUSTER_NAME, TcpGroups } from "./support/tcp-groups.js";

const BIN = fileURLToPath(new URL("../src/bin/tsraft.js", import.meta.url));

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs asynchronously: the cluster in this process must keep answering meanwhile. */
function admin(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, "admin", ...args], { encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

test("tsraft admin: get-leader, add-peer, get-peers, transfer-leader, and clear failures with exit codes", async () => {
  const groups = await TcpGroups.create(3, ["g"]);
  try {
    const leader = await groups.waitLeader("g");
    await leader.apply({ data: bytes("before") });
    const conf = groups.ids.join(",");
    const common = ["--group", "g", "--conf", conf, "--cluster-name", TEST_CLUSTER_NAME];

    const help = await admin("--help");
    assert.equal(help.status, 0);
    for (const op of ["add-peer", "remove-peer", "change-peers", "add-learners", "remove-learners", "reset-learners", "learner2follower", "transfer-leader", "snapshot", "get-leader", "get-peers", "get-alive-peers", "get-learners", "get-alive-learners", "rebalance"]) {
      assert.match(help.stdout, new RegExp(`\\b${op}\\b`), op);
    }

    const readable = await admin("get-leader", ...common);
    assert.equal(readable.status, 0, readable.stderr);
    assert.equal(readable.stdout, `leader of group "g": ${leader.serverId}\n`);
    const json = await admin("get-leader", ...common, "--json");
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { group: "g", leader: leader.serverId });

    const newId = await groups.addProcess();
    const joining = await groups.startNode(newId, "g");
    const added = await admin("add-peer", ...common, "--peer", newId);
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /configuration changed/);
    assert.ok(added.stdout.includes(`-> ${[...groups.ids].sort().join(", ")}`), added.stdout);
    await waitFor(() => joining.sm.texts().includes("before"), 5000, "the new voter catches up");
    const peers = await admin("get-peers", ...common, "--json");
    assert.deepEqual(JSON.parse(peers.stdout), { group: "g", peers: [...groups.ids].sort() });

    const moved = await admin("transfer-leader", ...common, "--peer", newId, "--json");
    assert.equal(moved.status, 0, moved.stderr);
    assert.deepEqual(JSON.parse(moved.stdout), { group: "g", leader: newId });

    const badPeer = await admin("add-peer", ...common, "--peer", "127.0.0.1");
    assert.equal(badPeer.status, 2, badPeer.stderr);
    assert.match(badPeer.stderr, /peer id "127.0.0.1" is not of the form host:port\[:idx\[:priority\]\]/);
    assert.equal(badPeer.stdout, "");
    const badConf = await admin("get-leader", "--group", "g", "--conf", "127.0.0.1:8081,127.0.0.1:99999");
    assert.equal(badConf.status, 2);
    assert.match(badConf.stderr, /entry 2: .*port 99999 is above 65535/);
    const missing = await admin("get-peers", "--conf", conf);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /required option '--group <id>' not specified/);

    const unreachable = await admin("get-leader", "--group", "g", "--conf", "127.0.0.1:1,127.0.0.1:2", "--timeout-ms", "3000");
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /^tsraft admin get-leader: EAGAIN: no peer of group "g" can be reached .*check the server list and that the servers run\n$/);

    const wrongCluster = await admin("get-leader", "--group", "g", "--conf", conf, "--timeout-ms", "3000");
    assert.equal(wrongCluster.status, 1);
    assert.match(wrongCluster.stderr, /cluster name "tsraft" does not match/);

    const catchup = await admin("add-peer", ...common, "--peer", "127.0.0.1:1", "--json");
    assert.equal(catchup.status, 1);
    assert.match(catchup.stderr, /^tsraft admin add-peer: ECATCHUP: .*did not catch up with the leader.s log/);
    assert.equal(JSON.parse(catchup.stdout).error.code, "ECATCHUP");

    // One voter of four left: no election can succeed.
    const survivor = groups.ids.find((id) => id !== newId)!;
    for (const id of groups.ids.filter((id) => id !== survivor)) await groups.stopProcess(id);
    await waitFor(() => groups.node(survivor, "g").leaderId === null, 5000, "the survivor to know no leader");
    const noQuorum = await admin("get-leader", "--group", "g", "--conf", `${conf},${newId}`, "--cluster-name", TEST_CLUSTER_NAME, "--timeout-ms", "1500");
    assert.equal(noQuorum.status, 1);
    assert.match(noQuorum.stderr, /ENOTLEADER: group "g" has no leader after \d+ ms .*too few voters run to form a quorum/);
  } finally {
    await groups.destroy();
  }
});
