/**
 * A tiny synchronous cluster for unit tests: every node persists at once and
 * messages are delivered in order unless a test drops or holds them. Tests
 * drive it step by step; the randomized simulator lives in src/sim/.
 */
import { RaftCore } from "../../src/core/raft.js";
import { SeededRandom } from "../../src/core/random.js";
import { EMPTY_HARD_STATE, EntryType, type Entry, type HardState, type NodeId } from "../../src/core/types.js";
import type { Message } from "../../src/core/messages.js";
import type { CoreOptions } from "../../src/core/options.js";
import type { ReadState, ConfChangeResult } from "../../src/core/ready.js";
import { MemoryLog } from "../../src/storage/memory-log.js";

export interface TestNode {
  id: NodeId;
  core: RaftCore;
  log: MemoryLog;
  hardState: HardState;
  applied: Entry[];
  readStates: ReadState[];
  confResults: ConfChangeResult[];
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** A message for which this returns true is dropped. */
  drop: (m: Message) => boolean = () => false;
  private seed = 1;

  constructor(
    ids: NodeId[],
    readonly options: Partial<CoreOptions> = {},
    learners: NodeId[] = [],
  ) {
    for (const id of ids) this.addNode(id, { voters: ids, outgoing: [], learners });
    for (const id of learners) this.addNode(id, { voters: ids, outgoing: [], learners });
  }

  addNode(id: NodeId, conf = { voters: [] as NodeId[], outgoing: [] as NodeId[], learners: [] as NodeId[] }, options: Partial<CoreOptions> = {}): TestNode {
    const log = new MemoryLog(conf);
    const core = new RaftCore({ id, log, hardState: EMPTY_HARD_STATE, random: new SeededRandom(this.seed++), options: { ...this.options, ...options } });
    const node: TestNode = { id, core, log, hardState: EMPTY_HARD_STATE, applied: [], readStates: [], confResults: [] };
    this.nodes.set(id, node);
    return node;
  }

  /** Rebuilds a node's core from what it persisted (a crash and restart). */
  restart(id: NodeId, options: Partial<CoreOptions> = {}): TestNode {
    const node = this.node(id);
    const applied = node.applied.length > 0 ? node.applied[node.applied.length - 1]!.index : 0;
    node.core = new RaftCore({ id, log: node.log, hardState: node.hardState, applied: Math.max(applied, node.log.snapshotMeta().index), random: new SeededRandom(this.seed++), options: { ...this.options, ...options } });
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    return node;
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  /** Handles every node's Ready until none has one, queueing messages. */
  processReadies(): void {
    for (let rounds = 0; rounds < 1000; rounds++) {
      let any = false;
      for (const node of this.nodes.values()) {
        if (!node.core.hasReady()) continue;
        any = true;
        const ready = node.core.ready();
        this.enqueue(ready.messages);
        if (ready.snapshot) node.log.installSnapshot(ready.snapshot);
        node.log.append(ready.entries);
        if (ready.hardState) node.hardState = ready.hardState;
        this.enqueue(ready.messagesAfterPersist);
        node.applied.push(...ready.committedEntries);
        node.readStates.push(...ready.readStates);
        node.confResults.push(...ready.confChangeResults);
        node.core.advance(ready);
      }
      if (!any) return;
    }
    throw new Error("readies did not settle");
  }

  private enqueue(messages: readonly Message[]): void {
    for (const m of messages) if (!this.drop(m)) this.queue.push(m);
  }

  /** Delivers queued messages (and the ones they cause) until the network is quiet. */
  stabilize(maxMessages = 100_000): void {
    this.processReadies();
    let delivered = 0;
    while (this.queue.length > 0) {
      const m = this.queue.shift()!;
      const target = this.nodes.get(m.to);
      if (target) target.core.step(m);
      this.processReadies();
      if (++delivered > maxMessages) throw new Error("the cluster did not stabilize");
    }
  }

  tick(ids: NodeId[] = [...this.nodes.keys()], times = 1): void {
    for (let i = 0; i < times; i++) for (const id of ids) this.core(id).tick();
    this.processReadies();
  }

  /** Starts an election on `id` and lets it finish. */
  elect(id: NodeId): void {
    this.core(id).campaign();
    this.stabilize();
  }

  leader(): NodeId | null {
    let found: NodeId | null = null;
    for (const node of this.nodes.values()) {
      if (node.core.status().role === "leader") found = node.id;
    }
    return found;
  }

  /** Removes every queued message to or from `id`, and drops new ones while `isolated` holds. */
  isolate(ids: NodeId[]): void {
    const set = new Set(ids);
    this.drop = (m) => set.has(m.from) !== set.has(m.to);
    this.queue = this.queue.filter((m) => !this.drop(m));
  }

  heal(): void {
    this.drop = () => false;
  }

  propose(id: NodeId, text: string): { index: number; term: number } {
    const result = this.core(id).propose(new TextEncoder().encode(text));
    this.stabilize();
    return result;
  }

  /** The texts of the Normal entries a node has applied. */
  appliedTexts(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.type === EntryType.Normal)
      .map((e) => new TextDecoder().decode(e.data));
  }
}
