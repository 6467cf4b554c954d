/**
 * In-process "processes" over real TCP on loopback, for the CLI tests: each is
 * one TcpTransport (as one tsraft process has) hosting nodes of any number of
 * groups, with its peer id the transport's address. Storage goes to a temp
 * folder removed by destroy().
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeId } from "../../src/core/types.js";
import { RaftNode, routeUnreachable } from "../../src/node/raft-node.js";
import type { NodeOptions } from "../../src/node/options.js";
import { TcpTransport } from "../../src/transport/tcp-transport.js";
import { RecordingStateMachine, quietLogger, waitFor } from "./node-cluster.js";

export const TEST_CLUSTER_NAME = "tsraft-cli-test";

export interface GroupMember {
  readonly node: RaftNode;
  readonly sm: RecordingStateMachine;
}

interface Process {
  readonly transport: TcpTransport;
  readonly nodes: Map<string, GroupMember>;
}

export class TcpGroups {
  readonly processes = new Map<NodeId, Process>();
  private nextFolder = 0;

  private constructor(
    readonly root: string,
    private readonly nodeOptions: Partial<NodeOptions>,
  ) {}

  /** `processCount` processes, each hosting a voter of every group in `groupIds`. */
  static async create(processCount: number, groupIds: readonly string[], nodeOptions: Partial<NodeOptions> = {}): Promise<TcpGroups> {
    const groups = new TcpGroups(await mkdtemp(join(tmpdir(), "tsraft-cli-")), nodeOptions);
    const ids: NodeId[] = [];
    for (let i = 0; i < processCount; i++) ids.push(await groups.addProcess());
    for (const groupId of groupIds) for (const id of ids) await groups.startNode(id, groupId, ids);
    return groups;
  }

  /** The ids of the processes that run, in start order. */
  get ids(): NodeId[] {
    return [...this.processes.keys()];
  }

  /** A new process listening on a free port; its peer id is its address. */
  async addProcess(): Promise<NodeId> {
    const transport = await TcpTransport.start({ clusterName: TEST_CLUSTER_NAME, listen: { host: "127.0.0.1", port: 0 }, onUnreachable: routeUnreachable });
    this.processes.set(transport.localAddress!, { transport, nodes: new Map() });
    return transport.localAddress!;
  }

  /** Starts the node of `groupId` in process `id`: a founding voter with `initialServerList`, else an empty node waiting to be added. */
  async startNode(id: NodeId, groupId: string, initialServerList?: readonly NodeId[]): Promise<GroupMember> {
    const process = this.process(id);
    const sm = new RecordingStateMachine();
    const node = await RaftNode.start({
      groupId,
      serverId: id,
      dataDir: join(this.root, `node-${this.nextFolder++}`),
      stateMachine: sm,
      transport: process.transport,
      electionTimeoutMs: 200,
      logger: quietLogger,
      ...(initialServerList !== undefined ? { initialServerList: [...initialServerList] } : {}),
      ...this.nodeOptions,
    });
    const member = { node, sm };
    process.nodes.set(groupId, member);
    return member;
  }

  node(id: NodeId, groupId: string): RaftNode {
    const member = this.process(id).nodes.get(groupId);
    if (member === undefined) throw new Error(`process ${id} runs no node of group ${groupId}`);
    return member.node;
  }

  member(id: NodeId, groupId: string): GroupMember {
    const member = this.process(id).nodes.get(groupId);
    if (member === undefined) throw new Error(`process ${id} runs no node of group ${groupId}`);
    return member;
  }

  /** The running nodes of a group. */
  nodes(groupId: string): RaftNode[] {
    return [...this.processes.values()].flatMap((p) => (p.nodes.has(groupId) ? [p.nodes.get(groupId)!.node] : []));
  }

  /** The one leader of `groupId` that every running voter of it follows, once it committed in its term. */
  async waitLeader(groupId: string, timeoutMs = 5000): Promise<RaftNode> {
    let found: RaftNode | null = null;
    await waitFor(
      () => {
        const nodes = this.nodes(groupId);
        const leaders = nodes.filter((node) => node.state === "leader");
        found = leaders.length === 1 ? leaders[0]! : null;
        const voters = found?.listPeers() ?? [];
        return found !== null && found.committedIndex > 0 && nodes.filter((n) => voters.includes(n.serverId)).every((n) => n.leaderId === found!.serverId);
      },
      timeoutMs,
      `a leader of group ${groupId} that its voters follow`,
    );
    return found!;
  }

  /** Shuts every node of the process down and closes its transport: the process is gone. */
  async stopProcess(id: NodeId): Promise<void> {
    const process = this.process(id);
    for (const { node } of process.nodes.values()) await node.shutdown();
    await process.transport.close();
    this.processes.delete(id);
  }

  async destroy(): Promise<void> {
    for (const id of this.ids) await this.stopProcess(id);
    await rm(this.root, { recursive: true, force: true });
  }

  private process(id: NodeId): Process {
    const process = this.processes.get(id);
    if (process === undefined) throw new Error(`no running process ${id}`);
    return process;
  }
}

/** A transport for the CLI client side: it only sends requests. */
export function clientTransport(): Promise<TcpTransport> {
  return TcpTransport.start({ clusterName: TEST_CLUSTER_NAME });
}
