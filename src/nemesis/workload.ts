/**
 * The clients of a nemesis run: workers that each do one operation at a time
 * against the cluster and record it, as Jepsen's clients do. Registers take
 * reads (linearizable, some through the leader's lease), writes of unique
 * values and compare-and-puts; sequences take getSequence; locks are taken,
 * held a moment and released, their fencing tokens recorded.
 *
 * A read that fails changed nothing: "fail". A write that fails may still
 * take effect (it may sit in the log): "info", and the worker goes on as a new
 * process, since its old operation may still be pending.
 */
import { RaftError } from "../errors.js";
import type { HistoryOperation, KvInput, KvOutput } from "../check/history.js";
import { KvClient } from "../kv/kv-client.js";
import type { Transport } from "../transport/transport.js";
import type { LockAcquisition } from "./lock-check.js";

export interface WorkloadOptions {
  readonly endpoints: readonly string[];
  readonly transport: Transport;
  readonly registerKeys: number;
  readonly registerWorkers: number;
  readonly sequenceWorkers: number;
  readonly lockWorkers: number;
  /** A worker waits up to this long between operations, so the history stays checkable. */
  readonly maxThinkMs: number;
  /** Per operation, retries included. */
  readonly timeoutMs: number;
  readonly random: () => number;
}

const SEQUENCE_KEYS = ["seq-0", "seq-1"];
const LOCK_KEYS = ["lock-0", "lock-1"];
const LOCK_LEASE_MS = 3000;
const LOCK_HOLD_MS = 20;

export class Workload {
  readonly history: HistoryOperation[] = [];
  readonly lockAcquisitions: LockAcquisition[] = [];
  private readonly clients: KvClient[] = [];
  private readonly startedAtMs = performance.now();
  private nextProcess = 0;
  private stopping = false;

  constructor(private readonly options: WorkloadOptions) {}

  get registerKeyNames(): string[] {
    return Array.from({ length: this.options.registerKeys }, (_, i) => `reg-${i}`);
  }

  /** Runs the workers until stop(); resolves once each finished its operation in flight. */
  async run(stopped: Promise<void>): Promise<void> {
    void stopped.then(() => (this.stopping = true));
    const workers: Promise<void>[] = [];
    for (let i = 0; i < this.options.registerWorkers; i++) workers.push(this.worker(() => this.registerOp()));
    for (let i = 0; i < this.options.sequenceWorkers; i++) workers.push(this.worker(() => this.sequenceOp()));
    for (let i = 0; i < this.options.lockWorkers; i++) workers.push(this.lockWorker());
    await Promise.all(workers);
  }

  /** Reads every register key linearizably, recorded as operations of a last process; null where the read failed. */
  async finalReads(): Promise<Map<string, string | null> | null> {
    const client = this.client();
    const values = new Map<string, string | null>();
    for (const key of this.registerKeyNames) {
      const op = await this.record(client.process, { kind: "read", key }, async () => ({ kind: "read", value: text(await client.kv.get(key)) }));
      if (op.status !== "ok") return null;
      values.set(key, (op.output as { value: string | null }).value);
    }
    return values;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
  }

  private client(): { process: number; kv: KvClient } {
    const kv = new KvClient({ endpoints: [...this.options.endpoints], transport: this.options.transport, timeoutMs: this.options.timeoutMs });
    this.clients.push(kv);
    return { process: this.nextProcess++, kv };
  }

  private async worker(next: () => { input: KvInput; call: (kv: KvClient) => Promise<KvOutput> }): Promise<void> {
    let client = this.client();
    while (!this.stopping) {
      const { input, call } = next();
      const op = await this.record(client.process, input, () => call(client.kv));
      if (op.status === "info") client = this.client();
      await this.think();
    }
  }

  private registerOp(): { input: KvInput; call: (kv: KvClient) => Promise<KvOutput> } {
    const key = this.pick(this.registerKeyNames);
    const roll = this.options.random();
    if (roll < 0.35) return { input: { kind: "read", key }, call: async (kv) => ({ kind: "read", value: text(await kv.get(key)) }) };
    if (roll < 0.5) return { input: { kind: "read", key }, call: async (kv) => ({ kind: "read", value: text(await kv.get(key, { consistency: "lease" })) }) };
    const value = `v${this.history.length}-${Math.floor(this.options.random() * 1e9)}`;
    if (roll < 0.8) {
      return {
        input: { kind: "write", key, value },
        call: async (kv) => {
          await kv.put(key, value);
          return { kind: "write" };
        },
      };
    }
    const expect = this.recentValue(key);
    return { input: { kind: "cas", key, expect, value }, call: async (kv) => ({ kind: "cas", succeeded: await kv.compareAndPut(key, expect, value) }) };
  }

  private sequenceOp(): { input: KvInput; call: (kv: KvClient) => Promise<KvOutput> } {
    const key = this.pick(SEQUENCE_KEYS);
    const step = 1 + Math.floor(this.options.random() * 3);
    return { input: { kind: "sequence", key, step }, call: async (kv) => ({ kind: "sequence", previous: (await kv.getSequence(key, step)).start }) };
  }

  /** Takes a lock, holds it a moment, releases it; a release that fails is left to the lease. */
  private async lockWorker(): Promise<void> {
    let client = this.client();
    while (!this.stopping) {
      const key = this.pick(LOCK_KEYS);
      const owner = `worker-${client.process}`;
      const invokeMs = this.now();
      try {
        const lock = await client.kv.acquireLock(key, owner, LOCK_LEASE_MS);
        if (lock.acquired) {
          this.lockAcquisitions.push({ key, owner, token: lock.token, invokeMs, completeMs: this.now() });
          await sleep(LOCK_HOLD_MS);
          await client.kv.releaseLock(key, owner, lock.token);
        }
      } catch (error) {
        if (!(error instanceof RaftError)) throw error;
        client = this.client();
      }
      await this.think();
    }
  }

  private async record(process: number, input: KvInput, call: () => Promise<KvOutput>): Promise<HistoryOperation> {
    const invokeMs = this.now();
    let op: HistoryOperation;
    try {
      const output = await call();
      op = { process, input, invokeMs, status: "ok", completeMs: this.now(), output };
    } catch (error) {
      if (!(error instanceof RaftError)) throw error;
      const read = input.kind === "read";
      op = { process, input, invokeMs, status: read ? "fail" : "info", completeMs: read ? this.now() : null, output: null };
    }
    this.history.push(op);
    return op;
  }

  /** A value the key held lately (or null), so compare-and-puts succeed often enough to matter. */
  private recentValue(key: string): string | null {
    for (let i = this.history.length - 1, seen = 0; i >= 0 && seen < 50; i--, seen++) {
      const op = this.history[i]!;
      if (op.input.key !== key || op.status !== "ok") continue;
      if (op.output?.kind === "read") return op.output.value;
      if (op.input.kind === "write" || op.input.kind === "cas") return op.input.value;
    }
    return null;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.options.random() * items.length)]!;
  }

  private think(): Promise<void> {
    return sleep(Math.floor(this.options.random() * this.options.maxThinkMs));
  }

  private now(): number {
    return performance.now() - this.startedAtMs;
  }
}

function text(value: Uint8Array | null): string | null {
  return value === null ? null : Buffer.from(value).toString("utf8");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
