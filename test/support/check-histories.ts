/**
 * Histories for the linearizability checker's tests: simulated runs of a
 * real (atomic) KV store with concurrent clients, each operation taking
 * effect at one instant inside its interval, so the history is linearizable
 * by construction; mutations that make one key's history provably not
 * linearizable; and a brute-force checker to compare the real one against.
 */
import type { HistoryOperation, KvInput, KvOutput, Model, Operation } from "../../src/check/index.js";

export interface SimulationOptions {
  readonly seed: number;
  readonly operationCount: number;
  readonly keyCount: number;
  readonly processCount: number;
  /** Share of operations left unanswered (about half of them still take effect). */
  readonly infoShare: number;
  /** Share of operations answered as failed (they never take effect). */
  readonly failShare: number;
  readonly workload: "register" | "sequence";
}

export interface SimulatedHistory {
  readonly operations: HistoryOperation[];
  /** Indexes of the operations that took effect, in the order they did. */
  readonly effectOrder: readonly number[];
  /** Each register key's value once every operation has taken effect or not. */
  readonly finalValues: ReadonlyMap<string, string | null>;
}

interface Planned {
  readonly process: number;
  readonly key: string;
  readonly kind: KvInput["kind"];
  readonly step: number;
  readonly invokeMs: number;
  readonly status: "ok" | "fail" | "info";
  readonly completeMs: number | null;
  /** When it takes effect; null if it never does. */
  readonly effectMs: number | null;
}

export function simulateHistory(options: SimulationOptions): SimulatedHistory {
  const random = seededRandom(options.seed);
  const plans = planOperations(options, random);
  const effectOrder = plans
    .map((plan, index) => ({ plan, index }))
    .filter(({ plan }) => plan.effectMs !== null)
    .sort((a, b) => a.plan.effectMs! - b.plan.effectMs!)
    .map(({ index }) => index);

  const values = new Map<string, string | null>();
  const counters = new Map<string, number>();
  const writtenSoFar = new Map<string, string[]>();
  const inputs: KvInput[] = [];
  const outputs: (KvOutput | null)[] = [];
  // Values come from the operation's index, so every written value is unique.
  const olderValue = (key: string): string | null => {
    const written = writtenSoFar.get(key) ?? [];
    return written.length === 0 || random() < 0.2 ? null : written[Math.floor(random() * written.length)]!;
  };
  const remember = (key: string, value: string): void => {
    const written = writtenSoFar.get(key) ?? [];
    written.push(value);
    writtenSoFar.set(key, written);
  };
  const effective = new Set(effectOrder);
  const inputOf = (plan: Planned, index: number, current: string | null): KvInput => {
    const value = `v${index}`;
    switch (plan.kind) {
      case "read":
      case "delete":
        return { kind: plan.kind, key: plan.key };
      case "write":
        return { kind: "write", key: plan.key, value };
      case "cas":
        return { kind: "cas", key: plan.key, expect: random() < 0.5 ? current : olderValue(plan.key), value };
      case "sequence":
        return { kind: "sequence", key: plan.key, step: plan.step };
    }
  };
  for (const index of effectOrder) {
    const plan = plans[index]!;
    const current = values.get(plan.key) ?? null;
    const input = inputOf(plan, index, current);
    inputs[index] = input;
    let output: KvOutput;
    switch (input.kind) {
      case "read":
        output = { kind: "read", value: current };
        break;
      case "write":
        values.set(input.key, input.value);
        remember(input.key, input.value);
        output = { kind: "write" };
        break;
      case "delete":
        values.set(input.key, null);
        output = { kind: "delete" };
        break;
      case "cas": {
        const succeeded = current === input.expect;
        if (succeeded) {
          values.set(input.key, input.value);
          remember(input.key, input.value);
        }
        output = { kind: "cas", succeeded };
        break;
      }
      case "sequence": {
        const previous = counters.get(input.key) ?? 0;
        counters.set(input.key, previous + input.step);
        output = { kind: "sequence", previous };
        break;
      }
    }
    outputs[index] = plan.status === "ok" ? output : null;
  }
  plans.forEach((plan, index) => {
    if (effective.has(index)) return;
    inputs[index] = inputOf(plan, index, olderValue(plan.key));
    outputs[index] = null;
  });

  const operations = plans.map((plan, index): HistoryOperation => ({
    process: plan.process,
    input: inputs[index]!,
    invokeMs: plan.invokeMs,
    status: plan.status,
    completeMs: plan.completeMs,
    output: outputs[index]!,
  }));
  const finalValues = options.workload === "register" ? values : new Map<string, string | null>();
  return { operations, effectOrder, finalValues };
}

function planOperations(options: SimulationOptions, random: () => number): Planned[] {
  const clocks = Array.from({ length: options.processCount }, () => random() * 2);
  const processIds = clocks.map((_, slot) => slot);
  let nextProcessId = options.processCount;
  const plans: Planned[] = [];
  for (let count = 0; count < options.operationCount; count++) {
    let slot = 0;
    for (let other = 1; other < clocks.length; other++) if (clocks[other]! < clocks[slot]!) slot = other;
    const invokeMs = round(clocks[slot]! + random() * 0.5);
    const latencyMs = round(0.1 + random() * 3);
    const roll = random();
    const status = roll < options.infoShare ? "info" : roll < options.infoShare + options.failShare ? "fail" : "ok";
    const effectMs = status === "ok" ? invokeMs + random() * latencyMs : status === "info" && random() < 0.5 ? invokeMs + random() * latencyMs * 4 : null;
    plans.push({
      process: processIds[slot]!,
      key: `k${Math.floor(random() * options.keyCount)}`,
      kind: options.workload === "sequence" ? "sequence" : pickKind(random()),
      step: [0, 1, 1, 2, 3][Math.floor(random() * 5)]!,
      invokeMs,
      status,
      completeMs: status === "info" ? null : round(invokeMs + latencyMs),
      effectMs,
    });
    clocks[slot] = invokeMs + latencyMs;
    // A client whose request timed out is abandoned, as Jepsen does: its successor has a new id.
    if (status === "info") processIds[slot] = nextProcessId++;
  }
  return plans;
}

function pickKind(roll: number): KvInput["kind"] {
  return roll < 0.45 ? "read" : roll < 0.75 ? "write" : roll < 0.9 ? "cas" : "delete";
}

/** Times in microsecond steps, so that equal times (touching operations) occur too. */
function round(timeMs: number): number {
  return Math.round(timeMs * 1000) / 1000;
}

export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 0x1_0000_0000;
  };
}

export interface Mutation {
  readonly operations: HistoryOperation[];
  readonly key: string;
  /** The read whose output was changed (the first one, for a lost write). */
  readonly read: HistoryOperation;
}

const isOk = (op: HistoryOperation, kind: KvInput["kind"]): boolean => op.status === "ok" && op.input.kind === kind;
const withRead = (op: HistoryOperation, value: string | null): HistoryOperation => ({ ...op, output: { kind: "read", value } });
const writtenValue = (op: HistoryOperation): string => (op.input.kind === "write" ? op.input.value : "");
const readValue = (op: HistoryOperation): string | null => (op.output?.kind === "read" ? op.output.value : null);

/**
 * A read answers the value of write w1 although write w2 overwrote it before
 * the read began (w1 returned before w2 was invoked): provably stale.
 */
export function injectStaleRead(history: SimulatedHistory): Mutation {
  const ops = history.operations;
  for (let r = ops.length - 1; r >= 0; r--) {
    const read = ops[r]!;
    if (!isOk(read, "read")) continue;
    const w2 = [...ops].reverse().find((op) => isOk(op, "write") && op.input.key === read.input.key && op.completeMs! < read.invokeMs);
    if (w2 === undefined) continue;
    const w1 = ops.find((op) => isOk(op, "write") && op.input.key === read.input.key && op.completeMs! < w2.invokeMs);
    if (w1 === undefined) continue;
    return replaced(ops, new Map([[r, withRead(read, writtenValue(w1))]]), read.input.key);
  }
  throw new Error("no stale read to inject: the history is too short");
}

/**
 * An acknowledged write w takes no effect: the reads that saw its value, up to
 * the key's next non-read operation, see the value before it instead. That
 * value's only writer returned before w was invoked, and one of those reads
 * began after w returned, so no order explains them.
 */
export function injectLostWrite(history: SimulatedHistory): Mutation {
  const ops = history.operations;
  const order = history.effectOrder;
  for (let position = 0; position < order.length; position++) {
    const write = ops[order[position]!]!;
    if (!isOk(write, "write")) continue;
    const key = write.input.key;
    const before = previousOnKey(ops, order, position, key);
    if (before === undefined || !isOk(before, "write") || !(before.completeMs! < write.invokeMs)) continue;
    const reads = new Map<number, HistoryOperation>();
    for (let later = position + 1; later < order.length; later++) {
      const op = ops[order[later]!]!;
      if (op.input.key !== key) continue;
      if (op.input.kind !== "read") break;
      if (op.status === "ok") reads.set(order[later]!, withRead(op, writtenValue(before)));
    }
    const provable = [...reads.keys()].some((index) => ops[index]!.invokeMs > write.completeMs!);
    if (provable) return replaced(ops, reads, key);
  }
  throw new Error("no write to lose: the history is too short");
}

function previousOnKey(ops: readonly HistoryOperation[], order: readonly number[], position: number, key: string): HistoryOperation | undefined {
  for (let earlier = position - 1; earlier >= 0; earlier--) {
    const op = ops[order[earlier]!]!;
    if (op.input.key === key && op.input.kind !== "read") return op;
  }
  return undefined;
}

/**
 * Read r1 sees a value other than w1's after w1 returned, then read r2,
 * invoked after r1 returned, sees w1's value again.
 */
export function injectSeenThenUnseen(history: SimulatedHistory): Mutation {
  const ops = history.operations;
  for (const w1 of ops) {
    if (!isOk(w1, "write")) continue;
    const key = w1.input.key;
    const r1 = ops.find((op) => isOk(op, "read") && op.input.key === key && op.invokeMs > w1.completeMs! && readValue(op) !== writtenValue(w1));
    if (r1 === undefined) continue;
    const r2Index = ops.findIndex((op) => isOk(op, "read") && op.input.key === key && op.invokeMs > r1.completeMs!);
    if (r2Index < 0) continue;
    return replaced(ops, new Map([[r2Index, withRead(ops[r2Index]!, writtenValue(w1))]]), key);
  }
  throw new Error("no read to make go back in time: the history is too short");
}

function replaced(ops: readonly HistoryOperation[], changes: ReadonlyMap<number, HistoryOperation>, key: string): Mutation {
  const operations = ops.map((op, index) => changes.get(index) ?? op);
  const firstChanged = Math.min(...changes.keys());
  return { operations, key, read: operations[firstChanged]! };
}

/**
 * Tries every order of every subset of the operations: all answered ones
 * must be placed, unanswered ones may be left out, and an operation may only
 * go next when no unplaced answered one returned before it was invoked.
 * Exponential; for histories of a handful of operations.
 */
export function bruteForceLinearizable<State, Input, Output>(model: Model<State, Input, Output>, operations: readonly Operation<Input, Output>[]): boolean {
  const ops = operations.filter((op) => op.status !== "fail");
  const placed = ops.map(() => false);
  const search = (state: State): boolean => {
    if (ops.every((op, index) => placed[index] || op.status !== "ok")) return true;
    for (let index = 0; index < ops.length; index++) {
      if (placed[index]) continue;
      const op = ops[index]!;
      const mustWait = ops.some((other, j) => !placed[j] && j !== index && other.status === "ok" && other.completeMs! < op.invokeMs);
      if (mustWait) continue;
      const next = model.step(state, op.input, op.status === "ok" ? op.output : null);
      if (next === null) continue;
      placed[index] = true;
      const found = search(next);
      placed[index] = false;
      if (found) return true;
    }
    return false;
  };
  return search(model.init());
}

/** Builders for hand-written histories: times in ms, one process per client. */
export const history = {
  write: (process: number, invokeMs: number, completeMs: number, key: string, value: string): HistoryOperation => ({
    process, input: { kind: "write", key, value }, invokeMs, status: "ok", completeMs, output: { kind: "write" },
  }),
  read: (process: number, invokeMs: number, completeMs: number, key: string, value: string | null): HistoryOperation => ({
    process, input: { kind: "read", key }, invokeMs, status: "ok", completeMs, output: { kind: "read", value },
  }),
  cas: (process: number, invokeMs: number, completeMs: number, key: string, expect: string | null, value: string, succeeded: boolean): HistoryOperation => ({
    process, input: { kind: "cas", key, expect, value }, invokeMs, status: "ok", completeMs, output: { kind: "cas", succeeded },
  }),
  delete: (process: number, invokeMs: number, completeMs: number, key: string): HistoryOperation => ({
    process, input: { kind: "delete", key }, invokeMs, status: "ok", completeMs, output: { kind: "delete" },
  }),
  sequence: (process: number, invokeMs: number, completeMs: number, key: string, step: number, previous: number): HistoryOperation => ({
    process, input: { kind: "sequence", key, step }, invokeMs, status: "ok", completeMs, output: { kind: "sequence", previous },
  }),
  /** Unanswered: it may take effect at any time after invokeMs, or never. */
  info: (process: number, invokeMs: number, input: KvInput): HistoryOperation => ({ process, input, invokeMs, status: "info", completeMs: null, output: null }),
  /** Definitely did not take effect. */
  fail: (process: number, invokeMs: number, completeMs: number, input: KvInput): HistoryOperation => ({ process, input, invokeMs, status: "fail", completeMs, output: null }),
};
