/** RouteTable: a client's cache of configurations and leaders learns a membership change on refresh or redirect, without a restart. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliService } from "../src/cli/cli-service.js";
import { RouteTable } from "../src/cli/route-table.js";
import { codeOf } from "./support/node-cluster.js";
import { TcpGroups, clientTransport } from "./support/tcp-groups.js";

test("a RouteTable made with the old server list learns the new membership and leader", async () => {
  const groups = await TcpGroups.create(3, ["g"]);
  const transport = await clientTransport();
  try {
    const cli = new CliService(transport, { timeoutMs: 5000 });
    const [a, b, c] = groups.ids as [string, string, string];
    const oldList = `${a},${b},${c}`;
    const table = new RouteTable(cli);
    table.updateConfiguration("g", oldList);
    assert.equal(table.selectLeader("g"), null, "the cache holds no leader before a refresh");
    const leader = (await groups.waitLeader("g")).serverId;
    assert.equal(await table.refreshLeader("g"), leader);
    assert.equal(table.selectLeader("g"), leader);

    // The membership changes behind the table's back: d joins, a follower leaves and stops, d leads.
    const d = await groups.addProcess();
    await groups.startNode(d, "g");
    await cli.addPeer("g", oldList, d);
    const leaving = [a, b, c].find((id) => id !== leader)!;
    await cli.removePeer("g", oldList, leaving);
    await groups.stopProcess(leaving);
    assert.equal(await cli.transferLeader("g", `${oldList},${d}`, d), d);
    const newPeers = [a, b, c, d].filter((id) => id !== leaving).sort();

    assert.deepEqual(table.getConfiguration("g"), { peers: [a, b, c], learners: [] }, "the cache is only a cache");
    assert.deepEqual(await table.refreshConfiguration("g"), { peers: newPeers, learners: [] });
    assert.equal(table.selectLeader("g"), d);

    // A second client still configured with the old list: its refreshLeader finds d outside that list and brings the membership in.
    const stale = new RouteTable(cli);
    stale.updateConfiguration("g", oldList);
    assert.equal(await stale.refreshLeader("g"), d);
    assert.deepEqual(stale.getConfiguration("g"), { peers: newPeers, learners: [] });

    // A third learns from a redirect alone: the leader hint is kept beside the (dead) old peers and refreshed from.
    const redirected = new RouteTable(cli);
    redirected.updateConfiguration("g", leaving);
    redirected.updateLeader("g", d);
    assert.equal(redirected.selectLeader("g"), d);
    assert.deepEqual(await redirected.refreshConfiguration("g"), { peers: newPeers, learners: [] });

    // A configuration that drops the cached leader forgets it.
    redirected.updateConfiguration("g", a);
    assert.equal(redirected.selectLeader("g"), null);
    assert.equal(redirected.removeGroup("g"), true);
    assert.equal(await codeOf(redirected.refreshLeader("g")), "EINVAL");
    assert.throws(() => redirected.updateConfiguration("g", "127.0.0.1"), /host:port\[:idx\[:priority\]\]/);
  } finally {
    await transport.close();
    await groups.destroy();
  }
});
