/**
 * In-process RaftNode clusters for tests: MemoryNetwork transports (or real
 * TCP on loopback), real storage in a temp folder (removed by destroy()), a
 * recording state machine.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeId } from "../../src/core/types.js";
import { RaftError } from "../../src/errors.js";
import { RaftNode, routeUnreachable } from "../../src/node/raft-node.js";
import type { NodeOptions } from "../../src/node/options.js";
import type { ApplyIterator, StateMachine } from "../../src/node/state-machine.js";
import type { SnapshotReader } from "../../src/storage/snapshot-reader.js";
import type { SnapshotWriter } from "../../src/storage/snapshot-writer.js";
import { MemoryNetwork } from "../../src/transport/memory-transport.js";
import { TcpTransport } from "../../src/transport/tcp-transport.js";
import type { Transport } from "../../src/transport/transport.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const bytes = (text: string): Uint8Array => encoder.encode(text);

export interface AppliedEntry {
  readonly index: number;
  readonly text: string;
}

/** Applies text commands into a list; done() answers with the list's length. Snapshots are the list as JSON. */
export class RecordingStateMachine implements StateMachine {
  applied: AppliedEntry[] = [];
  /** Throw from onApply on a command for which this returns true. */
  failOn: ((text: string) => boolean) | null = null;
  readonly errors: RaftError[] = [];
  readonly events: string[] = [];
  snapshotsLoaded = 0;

  async onApply(iterator: ApplyIterator): Promise<void> {
    while (iterator.hasNext()) {
      const text = decoder.decode(iterator.data);
      if (this.failOn?.(text)) throw new Error(`cannot apply ${text}`);
      this.applied.push({ index: iterator.index, text });
      iterator.done?.(this.applied.length);
      iterator.next();
    }
  }

  async onSnapshotSave(writer: SnapshotWriter): Promise<void> {
    await writer.addFile("state.json", encoder.encode(JSON.stringify(this.applied)));
  }

  async onSnapshotLoad(reader: SnapshotReader): Promise<boolean> {
    const file = reader.manifest.files.find((f) => f.name === "state.json");
    if (file === undefined) return false;
    this.applied = JSON.parse(decoder.decode(await reader.read("state.json", 0, file.sizeBytes))) as AppliedEntry[];
    this.snapshotsLoaded++;
    return true;
  }

  onError(error: RaftError): void {
    this.errors.push(error);
  }

  onLeaderStart(term: number): void {
    this.events.push(`leaderStart:${term}`);
  }

  onLeaderStop(): void {
    this.events.push("leaderStop");
  }

  onShutdown(): void {
    this.events.push("shutdown");
  }

  texts(): string[] {
    return this.applied.map((e) => e.text);
  }
}

export interface Member {
  readonly id: NodeId;
  node: RaftNode;
  sm: RecordingStateMachine;
  transport: Transport;
  readonly dataDir: string;
}

/** "memory": one MemoryNetwork; "tcp": a TcpTransport per member, listening on its id's port. */
export type TransportKind = "memory" | "tcp";

export const quietLogger = { warn: (): void => {}, error: (): void => {} };

export class NodeCluster {
  readonly network = new MemoryNetwork();
  readonly members = new Map<NodeId, Member>();
  readonly warnings: string[] = [];
  /** The nodes' info lines (snapshot installs). */
  readonly infos: string[] = [];

  private constructor(
    readonly root: string,
    readonly initialIds: NodeId[],
    readonly options: Partial<NodeOptions>,
    readonly transportKind: TransportKind,
  ) {}

  /** `memberOptions` adds options of one member (by its position) to the common ones. */
  static async create(
    size: number,
    options: Partial<NodeOptions> = {},
    basePort = 7001,
    transportKind: TransportKind = "memory",
    memberOptions: (position: number) => Partial<NodeOptions> = () => ({}),
  ): Promise<NodeCluster> {
    const root = await mkdtemp(join(tmpdir(), "tsraft-node-"));
    const ids = Array.from({ length: size }, (_, i) => `127.0.0.1:${basePort + i}`);
    const cluster = new NodeCluster(root, ids, options, transportKind);
    for (const [position, id] of ids.entries()) await cluster.start(id, { initial: true, options: memberOptions(position) });
    return cluster;
  }

  /** Starts (or restarts, on the same data folder) the member `id`. */
  async start(id: NodeId, how: { initial: boolean; sm?: RecordingStateMachine; options?: Partial<NodeOptions> } = { initial: false }): Promise<Member> {
    const dataDir = join(this.root, id.replace(/[:.]/g, "_"));
    const transport = await this.createTransport(id);
    const sm = how.sm ?? new RecordingStateMachine();
    const logger = { info: (m: string): void => void this.infos.push(m), warn: (m: string): void => void this.warnings.push(m), error: (m: string): void => void this.warnings.push(m) };
    try {
      const node = await RaftNode.start({
        groupId: "g",
        serverId: id,
        dataDir,
        stateMachine: sm,
        transport,
        electionTimeoutMs: 200,
        logger,
        ...(how.initial ? { initialServerList: this.initialIds } : {}),
        ...this.options,
        ...how.options,
      });
      const member: Member = { id, node, sm, transport, dataDir };
      this.members.set(id, member);
      return member;
    } catch (error) {
      await transport.close();
      throw error;
    }
  }

  private async createTransport(id: NodeId): Promise<Transport> {
    if (this.transportKind === "memory") return this.network.createTransport({ address: id, clusterName: "test", onUnreachable: routeUnreachable });
    const port = Number(id.split(":")[1]);
    return TcpTransport.start({ clusterName: "test", listen: { host: "127.0.0.1", port }, onUnreachable: routeUnreachable, reconnectMinDelayMs: 20, reconnectMaxDelayMs: 200 });
  }

  /** As kill -9 would: the member's transport closes first, so nothing more leaves it; then its node stops. */
  async kill(id: NodeId): Promise<void> {
    const member = this.member(id);
    await member.transport.close();
    await member.node.shutdown();
    this.members.delete(id);
  }

  async stop(id: NodeId): Promise<void> {
    const member = this.member(id);
    await member.node.shutdown();
    await member.transport.close();
    this.members.delete(id);
  }

  member(id: NodeId): Member {
    const member = this.members.get(id);
    if (member === undefined) throw new Error(`no running member ${id}`);
    return member;
  }

  node(id: NodeId): RaftNode {
    return this.member(id).node;
  }

  /** The one node in state "leader" that every running member agrees on. */
  async waitLeader(timeoutMs = 5000): Promise<RaftNode> {
    let found: RaftNode | null = null;
    await waitFor(() => {
      const leaders = [...this.members.values()].filter((m) => m.node.state === "leader");
      found = leaders.length === 1 ? leaders[0]!.node : null;
      return found !== null && found.committedIndex > 0 && [...this.members.values()].every((m) => m.node.state === "error" || m.node.leaderId === found!.serverId);
    }, timeoutMs, "a leader every member follows");
    return found!;
  }

  followers(): RaftNode[] {
    return [...this.members.values()].map((m) => m.node).filter((n) => n.state === "follower");
  }

  async destroy(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.stop(id);
    await rm(this.root, { recursive: true, force: true });
  }
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The RaftError code a promise rejects with (or "resolved"). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return error instanceof RaftError ? error.code : `not a RaftError: ${String(error)}`;
  }
}
