/** CliService.rebalance: leaders of many groups spread evenly over the nodes (SOFAJraft's rebalance). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliService } from "../src/cli/cli-service.js";
import { planRebalance } from "../src/cli/rebalance.js";
import { TcpGroups, clientTransport } from "./support/tcp-groups.js";

function loads(nodes: readonly string[], leaders: ReadonlyMap<string, string>): number[] {
  return nodes.map((node) => [...leaders.values()].filter((leader) => leader === node).length);
}

test("planRebalance moves from the heaviest node to the lightest alive one, and stops when loads differ by at most one", async () => {
  const nodes = ["a:1", "b:1", "c:1"];
  const everyone = async (): Promise<Set<string>> => new Set(nodes);
  assert.deepEqual(await planRebalance(nodes, new Map([["g1", "a:1"], ["g2", "a:1"]]), everyone), { groupId: "g1", target: "b:1" });
  assert.equal(await planRebalance(nodes, new Map([["g1", "a:1"], ["g2", "a:1"], ["g3", "b:1"], ["g4", "c:1"]]), everyone), null);
  // b is not alive in g1, so g2 moves instead.
  const withoutB = async (groupId: string): Promise<Set<string>> => new Set(groupId === "g1" ? ["a:1", "c:1"] : nodes);
  assert.deepEqual(await planRebalance(["a:1", "b:1"], new Map([["g1", "a:1"], ["g2", "a:1"]]), withoutB), { groupId: "g2", target: "b:1" });
  assert.equal(await planRebalance(["a:1", "b:1"], new Map([["g1", "a:1"], ["g2", "a:1"]]), async () => new Set(["a:1"])), null);
});

test("rebalance of 4 groups all led by one node leaves loads 2, 1, 1 and returns the real leaders", async () => {
  const groupIds = ["g1", "g2", "g3", "g4"];
  const groups = await TcpGroups.create(3, groupIds);
  const transport = await clientTransport();
  try {
    const cli = new CliService(transport, { timeoutMs: 5000 });
    const [first] = groups.ids as [string];
    const conf = groups.ids.join(",");
    for (const groupId of groupIds) {
      await groups.waitLeader(groupId);
      await cli.transferLeader(groupId, conf, first);
    }
    for (const groupId of groupIds) assert.equal((await groups.waitLeader(groupId)).serverId, first);

    const leaders = await cli.rebalance(groupIds, conf);
    assert.deepEqual([...leaders.keys()], groupIds);
    assert.deepEqual(loads(groups.ids, leaders).sort(), [1, 1, 2]);
    for (const groupId of groupIds) assert.equal((await groups.waitLeader(groupId)).serverId, leaders.get(groupId));
    assert.deepEqual(await cli.rebalance(groupIds, conf), leaders, "a balanced set of groups is left as it is");
  } finally {
    await transport.close();
    await groups.destroy();
  }
});
