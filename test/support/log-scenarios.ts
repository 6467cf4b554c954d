/**
 * Extra harness for the replication, commit, membership and snapshot tests:
 * seeded logs, a network tap that records, drops and holds messages, a
 * one-message-at-a-time driver with an observer, a standalone core for
 * follower-side unit tests, and a safety monitor (State Machine Safety and
 * Leader Completeness, §5.4).
 */
import assert from "node:assert/strict";
import { RaftCore } from "../../src/core/raft.js";
import { EMPTY_HARD_STATE, EntryType, type ConfState, type Entry, type HardState, type NodeId } from "../../src/core/types.js";
import type { Message } from "../../src/core/messages.js";
import type { CoreOptions } from "../../src/core/options.js";
import type { Ready } from "../../src/core/ready.js";
import { MemoryLog } from "../../src/storage/memory-log.js";
import type { TestCluster, TestNode } from "./cluster.js";
import { Solo } from "./core-harness.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

export function entry(index: number, term: number, data = `${index}@${term}`, type: EntryType = EntryType.Normal): Entry {
  return { index, term, type, data: encoder.encode(data) };
}

/** Entries from `from` on, entry i having term terms[i - from]. */
export function entriesOfTerms(terms: readonly number[], from = 1): Entry[] {
  return terms.map((term, i) => entry(from + i, term));
}

/**
 * Gives a cluster node a persisted log and hard state, then restarts its core
 * on them, as if it had written them before a crash.
 */
export function seedNode(c: TestCluster, id: NodeId, terms: readonly number[], hs: Partial<HardState> = {}): TestNode {
  const node = c.node(id);
  node.log.append(entriesOfTerms(terms));
  node.hardState = { term: hs.term ?? Math.max(0, ...terms), vote: hs.vote ?? null, commit: hs.commit ?? 0 };
  return c.restart(id);
}

/** The terms of a core's log from its first index to its last. */
export function logTerms(core: RaftCore): number[] {
  const s = core.status();
  const out: number[] = [];
  for (let i = s.firstIndex; i <= s.lastIndex; i++) out.push(core.term(i)!);
  return out;
}

/** The entries a node has durably stored (what the caller persisted). */
export function storedEntries(log: MemoryLog): Entry[] {
  if (log.lastIndex() < log.firstIndex()) return [];
  return log.entries(log.firstIndex(), log.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
}

/**
 * Replaces the cluster's drop filter: records every message a node sends,
 * drops those `blocked` matches and sets aside those `hold` matches until
 * released. Do not use TestCluster.isolate/heal together with a Tap.
 */
export class Tap {
  sent: Message[] = [];
  held: Message[] = [];
  blocked: (m: Message) => boolean = () => false;
  hold: (m: Message) => boolean = () => false;

  constructor(readonly c: TestCluster) {
    c.drop = (m) => {
      this.sent.push(m);
      if (this.blocked(m)) return true;
      if (this.hold(m)) {
        this.held.push(m);
        return true;
      }
      return false;
    };
  }

  /** Cuts `ids` off from everyone else (queued messages across the cut are lost too). */
  isolate(ids: NodeId[]): void {
    const set = new Set(ids);
    this.blocked = (m) => set.has(m.from) !== set.has(m.to);
    this.c.queue = this.c.queue.filter((m) => !this.blocked(m));
  }

  /** Every node in `down` sends and receives nothing. */
  crash(down: NodeId[]): void {
    const set = new Set(down);
    this.blocked = (m) => set.has(m.from) || set.has(m.to);
    this.c.queue = this.c.queue.filter((m) => !this.blocked(m));
  }

  heal(): void {
    this.blocked = () => false;
  }

  /** Puts held messages matching `pred` back on the network (in the order they were sent). */
  release(pred: (m: Message) => boolean = () => true): Message[] {
    const out = this.held.filter(pred);
    this.held = this.held.filter((m) => !pred(m));
    this.c.queue.push(...out);
    return out;
  }

  count(pred: (m: Message) => boolean): number {
    return this.sent.filter(pred).length;
  }

  clear(): void {
    this.sent = [];
  }
}

/** Like TestCluster.stabilize, but calls `after` after every Ready round and every delivery. */
export function deliverAll(c: TestCluster, after: () => void = () => {}, maxMessages = 100_000): void {
  c.processReadies();
  after();
  let delivered = 0;
  while (c.queue.length > 0) {
    const m = c.queue.shift()!;
    const target = c.nodes.get(m.to);
    if (target) target.core.step(m);
    c.processReadies();
    after();
    if (++delivered > maxMessages) throw new Error("the cluster did not stabilize");
  }
}

/** Delivers only the first queued message. Returns it, or null when the queue is empty. */
export function deliverOne(c: TestCluster): Message | null {
  const m = c.queue.shift();
  if (m === undefined) return null;
  const target = c.nodes.get(m.to);
  if (target) target.core.step(m);
  c.processReadies();
  return m;
}

/** Campaigns on `id` until it leads (a lost election just bumps its term), at most `tries` times. */
export function electWithRetries(c: TestCluster, id: NodeId, tries = 5): void {
  for (let i = 0; i < tries && c.core(id).status().role !== "leader"; i++) {
    c.core(id).campaign();
    c.stabilize();
  }
  assert.equal(c.core(id).status().role, "leader", `${id} did not win an election`);
}

/** A core on its own, with a MemoryLog holding `terms`; the test plays the other peers. */
export class SoloCore extends Solo {
  constructor(id: NodeId, conf: ConfState, terms: readonly number[] = [], hs: Partial<HardState> = {}, options: Partial<CoreOptions> = {}) {
    super(id, { conf, entries: entriesOfTerms(terms), hardState: { ...EMPTY_HARD_STATE, term: Math.max(0, ...terms), ...hs }, seed: 7, options });
  }

  /** Handles one Ready the way TestCluster does and returns it (or null when there is none). */
  handleNext(): Ready | null {
    if (!this.core.hasReady()) return null;
    const ready = this.core.ready();
    this.persist(ready);
    this.readies.push(ready);
    this.core.advance(ready);
    return ready;
  }

  step(m: Message): Ready | null {
    this.core.step(m);
    return this.handleNext();
  }
}

/**
 * Watches a cluster for the §5.4 safety properties: no two nodes ever commit
 * different entries at one index (State Machine Safety, §5.4.3), and every
 * leader holds every entry committed in an earlier term (Leader Completeness, §5.4).
 */
export class SafetyMonitor {
  /** index -> { term of the entry, the term in which its commit was first seen } */
  readonly committed = new Map<number, { term: number; seenInTerm: number }>();
  checks = 0;

  constructor(readonly c: TestCluster) {}

  observe = (): void => {
    this.checks++;
    for (const node of this.c.nodes.values()) {
      const s = node.core.status();
      for (let i = Math.max(1, s.firstIndex); i <= s.commit; i++) {
        const term = node.core.term(i);
        assert.notEqual(term, undefined, `${node.id} committed ${i} but does not have it`);
        const known = this.committed.get(i);
        if (known === undefined) this.committed.set(i, { term: term!, seenInTerm: s.term });
        else assert.equal(term, known.term, `State Machine Safety (§5.4.3): ${node.id} committed index ${i} with term ${term}, another node with term ${known.term}`);
      }
    }
    for (const node of this.c.nodes.values()) {
      const s = node.core.status();
      if (s.role !== "leader") continue;
      for (const [index, { term, seenInTerm }] of this.committed) {
        if (seenInTerm >= s.term || index < s.firstIndex) continue;
        assert.equal(node.core.term(index), term, `Leader Completeness (§5.4): leader ${node.id} of term ${s.term} lacks entry ${index}@${term} committed by term ${seenInTerm}`);
      }
    }
  };
}

/** Texts of every Normal entry in a list. */
export function normalTexts(entries: readonly Entry[]): string[] {
  return entries.filter((e) => e.type === EntryType.Normal).map((e) => text(e.data));
}

/** Does for one Ready taken by the test what TestCluster.processReadies does. */
export function handleReady(c: TestCluster, id: NodeId, ready: Ready): void {
  const node = c.node(id);
  for (const m of ready.messages) if (!c.drop(m)) c.queue.push(m);
  if (ready.snapshot) node.log.installSnapshot(ready.snapshot);
  node.log.append(ready.entries);
  if (ready.hardState) node.hardState = ready.hardState;
  for (const m of ready.messagesAfterPersist) if (!c.drop(m)) c.queue.push(m);
  node.applied.push(...ready.committedEntries);
  node.readStates.push(...ready.readStates);
  node.confResults.push(...ready.confChangeResults);
  node.core.advance(ready);
}

/** Compacts a node's stored log up to `index` the way a caller does after taking a snapshot. */
export function compactAt(c: TestCluster, id: NodeId, index: number): { index: number; term: number; conf: ConfState } {
  const node = c.node(id);
  const meta = { index, term: node.core.term(index)!, conf: node.core.confAt(index) };
  node.log.compact(meta);
  return meta;
}
