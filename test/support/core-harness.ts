/**
 * Extra harness for the core's unit tests (election, durability, transfer,
 * read-index): a single core driven by hand, message builders, a message
 * recorder for TestCluster, and a TestCluster that checks the monotonic
 * invariants (terms never go back, commit never decreases) after every Ready.
 */
import assert from "node:assert/strict";
import { RaftCore } from "../../src/core/raft.js";
import { SeededRandom, type RandomSource } from "../../src/core/random.js";
import { EMPTY_HARD_STATE, EntryType, type ConfState, type Entry, type HardState, type NodeId } from "../../src/core/types.js";
import type { Message } from "../../src/core/messages.js";
import type { CoreOptions } from "../../src/core/options.js";
import type { Ready } from "../../src/core/ready.js";
import { MemoryLog } from "../../src/storage/memory-log.js";
import { TestCluster } from "./cluster.js";

export const enc = (text: string): Uint8Array => new TextEncoder().encode(text);

export function entry(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, type: EntryType.Normal, data: enc(text) };
}

/** A RandomSource that counts its draws and remembers their bounds. */
export class CountingRandom implements RandomSource {
  readonly bounds: number[] = [];
  readonly values: number[] = [];
  private readonly inner: SeededRandom;
  constructor(seed: number) {
    this.inner = new SeededRandom(seed);
  }
  nextInt(bound: number): number {
    this.bounds.push(bound);
    const value = this.inner.nextInt(bound);
    this.values.push(value);
    return value;
  }
  get draws(): number {
    return this.bounds.length;
  }
}

export interface SoloOptions {
  /** The whole bootstrap membership; overrides voters and learners. */
  conf?: ConfState;
  voters?: NodeId[];
  learners?: NodeId[];
  entries?: Entry[];
  hardState?: HardState;
  seed?: number;
  random?: RandomSource;
  options?: Partial<CoreOptions>;
}

/** One core with its own MemoryLog, driven by hand. */
export class Solo {
  readonly log: MemoryLog;
  core: RaftCore;
  hardState: HardState;
  /** Every Ready handled by drain(), in order. */
  readonly readies: Ready[] = [];

  constructor(
    readonly id: NodeId,
    opts: SoloOptions = {},
  ) {
    this.log = new MemoryLog(opts.conf ?? { voters: opts.voters ?? [id], outgoing: [], learners: opts.learners ?? [] });
    if (opts.entries) this.log.append(opts.entries);
    this.hardState = opts.hardState ?? EMPTY_HARD_STATE;
    this.core = new RaftCore({
      id,
      log: this.log,
      hardState: this.hardState,
      random: opts.random ?? new SeededRandom(opts.seed ?? 1),
      options: opts.options ?? {},
    });
  }

  /** Persists and acknowledges every pending Ready; returns them. */
  drain(): Ready[] {
    const out: Ready[] = [];
    while (this.core.hasReady()) {
      const ready = this.core.ready();
      this.persist(ready);
      this.core.advance(ready);
      out.push(ready);
    }
    this.readies.push(...out);
    return out;
  }

  persist(ready: Ready): void {
    if (ready.snapshot) this.log.installSnapshot(ready.snapshot);
    this.log.append(ready.entries);
    if (ready.hardState) this.hardState = ready.hardState;
  }

  /** All messages (before and after persist) of the drained readies. */
  drainMessages(): Message[] {
    const out: Message[] = [];
    for (const r of this.drain()) out.push(...r.messages, ...r.messagesAfterPersist);
    return out;
  }
}

/** Records every message the cluster enqueues; keeps dropping what `drop` drops. */
export function record(cluster: TestCluster): Message[] {
  const sent: Message[] = [];
  const install = (): void => {
    const base = cluster.drop;
    cluster.drop = (m) => {
      sent.push(m);
      return base(m);
    };
  };
  install();
  // isolate()/heal() replace cluster.drop: re-wrap after them.
  const isolate = cluster.isolate.bind(cluster);
  const heal = cluster.heal.bind(cluster);
  cluster.isolate = (ids: NodeId[]) => {
    isolate(ids);
    install();
  };
  cluster.heal = () => {
    heal();
    install();
  };
  return sent;
}

/** Ticks `ids` one tick at a time until `done()` holds; returns the ticks it took. */
export function tickUntil(cluster: TestCluster, ids: NodeId[], done: () => boolean, maxTicks: number, deliver = true): number {
  for (let t = 1; t <= maxTicks; t++) {
    cluster.tick(ids);
    if (deliver) cluster.stabilize();
    if (done()) return t;
  }
  throw new Error(`condition not reached within ${maxTicks} ticks`);
}

/** The terms of a node's whole log (index 1..last), read through the core. */
export function logTerms(core: RaftCore): number[] {
  const out: number[] = [];
  for (let i = 1; i <= core.lastIndex(); i++) out.push(core.term(i)!);
  return out;
}

/** The Normal entries' texts of a node's durable log. */
export function logTexts(log: MemoryLog): string[] {
  if (log.lastIndex() < log.firstIndex()) return [];
  return log
    .entries(log.firstIndex(), log.lastIndex() + 1, Number.MAX_SAFE_INTEGER)
    .filter((e) => e.type === EntryType.Normal)
    .map((e) => new TextDecoder().decode(e.data));
}

/** Elects `id` in a fresh cluster: lets the start-up lease pass, then campaigns. */
export function electedCluster(ids: NodeId[], leader: NodeId, options: Partial<CoreOptions> = {}, learners: NodeId[] = []): TestCluster {
  const c = new TestCluster(ids, options, learners);
  if (options.readOnly === "lease") {
    // In lease mode start-up counts as leader contact: let that lease pass, silently.
    c.drop = () => true;
    c.tick(ids, options.electionTicks ?? 10);
    c.queue = [];
    c.heal();
  }
  c.elect(leader);
  assert.equal(c.leader(), leader, `${leader} should win the first election`);
  return c;
}

/**
 * A TestCluster that, after every round of readies, checks for each node that
 * its term never went back and its commit index never decreased, in memory
 * (status) and on disk (the persisted hard state), also across restarts.
 */
export class CheckedCluster extends TestCluster {
  private readonly seen = new Map<NodeId, { term: number; commit: number; hsTerm: number; hsCommit: number }>();
  checks = 0;

  override processReadies(): void {
    super.processReadies();
    this.check();
  }

  check(): void {
    for (const node of this.nodes.values()) {
      const s = node.core.status();
      const prev = this.seen.get(node.id) ?? { term: 0, commit: 0, hsTerm: 0, hsCommit: 0 };
      assert.ok(s.term >= prev.term, `${node.id}: term went back from ${prev.term} to ${s.term}`);
      assert.ok(s.commit >= prev.commit, `${node.id}: commit went back from ${prev.commit} to ${s.commit}`);
      assert.ok(node.hardState.term >= prev.hsTerm, `${node.id}: persisted term went back`);
      assert.ok(node.hardState.commit >= prev.hsCommit, `${node.id}: persisted commit went back`);
      assert.ok(s.commit <= s.lastIndex, `${node.id}: commit ${s.commit} past last index ${s.lastIndex}`);
      this.seen.set(node.id, { term: s.term, commit: s.commit, hsTerm: node.hardState.term, hsCommit: node.hardState.commit });
      this.checks++;
    }
  }
}

/** Runs `fn` and returns the RaftError code it threw (fails when it does not throw). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    assert.equal(typeof code, "string", `expected a RaftError, got ${String(err)}`);
    return code as string;
  }
  assert.fail("expected an error, but the call succeeded");
}

/** Ticks `ids` `times` times, delivering every message after each tick. */
export function run(cluster: TestCluster, ids: NodeId[], times: number): void {
  for (let t = 0; t < times; t++) {
    cluster.tick(ids);
    cluster.stabilize();
  }
}
