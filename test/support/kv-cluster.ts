/**
 * In-process KV servers over real TCP on loopback, each as `tsraft serve`
 * runs it (startKvProcess: its own transport, node and KV service), on free
 * ports, with storage in a temp folder removed by destroy().
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeId } from "../../src/core/types.js";
import { startKvProcess, type KvProcess } from "../../src/kv/kv-process.js";
import type { RaftNode } from "../../src/node/raft-node.js";
import { waitFor } from "./node-cluster.js";
import { freePorts } from "../../src/nemesis/free-ports.js";

export const KV_TEST_CLUSTER_NAME = "tsraft-kv-test";
export const KV_TEST_GROUP = "kv";

export { freePorts } from "../../src/nemesis/free-ports.js";

export class KvCluster {
  readonly processes = new Map<NodeId, KvProcess>();
  /** Every line the servers logged, for failure reports. */
  readonly lines: string[] = [];

  private constructor(
    readonly root: string,
    readonly ids: readonly NodeId[],
  ) {}

  static async create(size = 3): Promise<KvCluster> {
    const ids = (await freePorts(size)).map((port) => `127.0.0.1:${port}`);
    const cluster = new KvCluster(await mkdtemp(join(tmpdir(), "tsraft-kv-")), ids);
    await Promise.all(ids.map((id) => cluster.start(id)));
    return cluster;
  }

  get endpoints(): string {
    return this.ids.join(",");
  }

  async start(id: NodeId): Promise<KvProcess> {
    const log = (line: string): void => {
      this.lines.push(line);
    };
    const process = await startKvProcess({
      serverId: id,
      dataDir: join(this.root, id.replace(":", "_")),
      groupId: KV_TEST_GROUP,
      clusterName: KV_TEST_CLUSTER_NAME,
      initialServerList: this.ids,
      electionTimeoutMs: 300,
      sync: false,
      info: log,
      warn: log,
    });
    this.processes.set(id, process);
    return process;
  }

  async stop(id: NodeId): Promise<void> {
    const process = this.processes.get(id);
    this.processes.delete(id);
    await process?.stop();
  }

  node(id: NodeId): RaftNode {
    const process = this.processes.get(id);
    if (process === undefined) throw new Error(`${id} is not running`);
    return process.node;
  }

  /** The one leader every running member follows, once it committed in its term. */
  async waitLeader(timeoutMs = 5000): Promise<RaftNode> {
    let leader: RaftNode | null = null;
    await waitFor(
      () => {
        const nodes = [...this.processes.values()].map((p) => p.node);
        const leaders = nodes.filter((node) => node.isLeader());
        leader = leaders.length === 1 ? leaders[0]! : null;
        return leader !== null && leader.committedIndex > 0 && leader.appliedIndex >= leader.committedIndex && nodes.every((node) => node.leaderId === leader!.serverId);
      },
      timeoutMs,
      "a leader that every running member follows",
    );
    return leader!;
  }

  followers(leader: RaftNode): NodeId[] {
    return [...this.processes.keys()].filter((id) => id !== leader.serverId);
  }

  async destroy(): Promise<void> {
    for (const id of [...this.processes.keys()]) await this.stop(id);
    await rm(this.root, { recursive: true, force: true });
  }
}
