/**
 * Checks a KV history, as the nemesis runner records it, for linearizability.
 * Linearizability is compositional (P-compositionality): a history of many
 * keys is linearizable exactly when each key's history is, so each key is
 * checked on its own, as a register or as a sequence, which keeps each search
 * small.
 */
import { RaftError } from "../errors.js";
import { describeFailure } from "./excerpt.js";
import { countStatuses, type StatusCounts } from "./history-stats.js";
import { searchLinearization, type LinearizabilityVerdict } from "./linearizability.js";
import type { Model, Operation } from "./model.js";
import { registerModel, type RegisterInput, type RegisterOutput } from "./register-model.js";
import { SearchBudget, type SearchLimits } from "./search-budget.js";
import { sequenceModel, type SequenceInput, type SequenceOutput } from "./sequence-model.js";
import { collapseUnobservedValues } from "./unobserved-values.js";

export type KvInput =
  | { kind: "read"; key: string }
  | { kind: "write"; key: string; value: string }
  | { kind: "cas"; key: string; expect: string | null; value: string }
  | { kind: "delete"; key: string }
  | { kind: "sequence"; key: string; step: number };

export type KvOutput =
  | { kind: "read"; value: string | null }
  | { kind: "write" }
  | { kind: "cas"; succeeded: boolean }
  | { kind: "delete" }
  | { kind: "sequence"; previous: number };

export interface HistoryOperation {
  readonly process: number; // the client that issued it; one op in flight per process
  readonly input: KvInput;
  readonly invokeMs: number; // monotonic time of the invocation
  readonly status: "ok" | "fail" | "info";
  readonly completeMs: number | null; // null for info
  readonly output: KvOutput | null; // null unless ok
}

export type CheckOptions = SearchLimits;

export interface CheckResult {
  /** "unknown" when a budget ran out on some key and no key failed. */
  readonly linearizable: boolean | "unknown";
  /** Keys with a verdict (linearizable or not). */
  readonly keysChecked: number;
  readonly keyCount: number;
  /** Of the failing keys, the one whose stuck operation returned first; null when none failed. */
  readonly firstFailingKey: string | null;
  readonly failingKeys: readonly string[];
  readonly unknownKeys: readonly string[];
  /** The first failing key's history around the failure, or why a key is unknown; null when linearizable. */
  readonly excerpt: string | null;
  readonly counts: StatusCounts;
  readonly searchSteps: number;
  readonly elapsedMs: number;
}

/** Histories start from an empty store: every key absent, every sequence at 0. */
export function checkKvHistory(ops: readonly HistoryOperation[], options: CheckOptions = {}): CheckResult {
  const startedMs = performance.now();
  const budget = new SearchBudget(options);
  const keys = operationsByKey(ops);
  const failing: { key: string; stuckAtMs: number; excerpt: string }[] = [];
  const unknown: { key: string; excerpt: string }[] = [];
  let searchSteps = 0;
  for (const key of [...keys.keys()].sort()) {
    const verdict = checkKey(key, keys.get(key)!, budget);
    searchSteps += verdict.steps;
    if (verdict.linearizable === false) failing.push({ key, stuckAtMs: verdict.stuckAtMs, excerpt: verdict.excerpt });
    if (verdict.linearizable === "unknown") unknown.push({ key, excerpt: verdict.excerpt });
  }
  // Stable: among failures at the same time, the first key in order wins.
  const first = [...failing].sort((a, b) => a.stuckAtMs - b.stuckAtMs)[0];
  return {
    linearizable: failing.length > 0 ? false : unknown.length > 0 ? "unknown" : true,
    keysChecked: keys.size - unknown.length,
    keyCount: keys.size,
    firstFailingKey: first?.key ?? null,
    failingKeys: failing.map((failure) => failure.key),
    unknownKeys: unknown.map((entry) => entry.key),
    excerpt: first?.excerpt ?? unknown[0]?.excerpt ?? null,
    counts: countStatuses(ops),
    searchSteps,
    elapsedMs: performance.now() - startedMs,
  };
}

type KeyVerdict =
  | { linearizable: true; steps: number }
  | { linearizable: false; steps: number; stuckAtMs: number; excerpt: string }
  | { linearizable: "unknown"; steps: number; excerpt: string };

function checkKey(key: string, ops: readonly HistoryOperation[], budget: SearchBudget): KeyVerdict {
  const subject = `key ${JSON.stringify(key)}`;
  const sequences = ops.filter((op) => op.input.kind === "sequence").length;
  if (sequences > 0 && sequences < ops.length) {
    throw new RaftError("EINVAL", `${subject} has both sequence and register operations; a key belongs to one workload`);
  }
  if (sequences > 0) {
    const operations = ops.map(asSequenceOperation);
    return keyVerdict(subject, sequenceModel, operations, operations, searchLinearization(sequenceModel, operations, budget));
  }
  const original = ops.map(asRegisterOperation);
  const collapsed = collapseUnobservedValues(original);
  return keyVerdict(subject, registerModel, original, collapsed, searchLinearization(registerModel, collapsed, budget));
}

/** `shown` are the operations as recorded, `searched` as the search saw them; they share indexes. */
function keyVerdict<State, Input, Output>(
  subject: string,
  model: Model<State, Input, Output>,
  shown: readonly Operation<Input, Output>[],
  searched: readonly Operation<Input, Output>[],
  verdict: LinearizabilityVerdict<State>,
): KeyVerdict {
  const steps = verdict.stats.steps;
  switch (verdict.linearizable) {
    case true:
      return { linearizable: true, steps };
    case false:
      return {
        linearizable: false,
        steps,
        stuckAtMs: searched[verdict.failure.stuck].completeMs ?? Infinity,
        excerpt: describeFailure(model, subject, shown, verdict.failure, verdict.stats.operations),
      };
    case "unknown": {
      const { operations, steps, visitedConfigurations } = verdict.stats;
      const excerpt = `${subject}: unknown: ${verdict.reason} (${operations} operations searched, ${steps} steps, ${visitedConfigurations} configurations remembered)`;
      return { linearizable: "unknown", steps, excerpt };
    }
  }
}

function operationsByKey(ops: readonly HistoryOperation[]): Map<string, HistoryOperation[]> {
  const byKey = new Map<string, HistoryOperation[]>();
  ops.forEach((op, index) => {
    validateKvOperation(op, index);
    let list = byKey.get(op.input.key);
    if (list === undefined) byKey.set(op.input.key, (list = []));
    list.push(op);
  });
  return byKey;
}

const INPUT_KINDS = new Set(["read", "write", "cas", "delete", "sequence"]);

function validateKvOperation(op: HistoryOperation, index: number): void {
  const where = `operation ${index} (process ${op.process})`;
  if (!INPUT_KINDS.has(op.input.kind)) throw new RaftError("EINVAL", `${where}: unknown input kind ${JSON.stringify(op.input.kind)}`);
  if (typeof op.input.key !== "string") throw new RaftError("EINVAL", `${where}: the key must be a string`);
  if (op.status === "ok" && op.output !== null && op.output.kind !== op.input.kind) {
    throw new RaftError("EINVAL", `${where}: a ${op.input.kind} answered with a ${op.output.kind} output`);
  }
}

function asSequenceOperation(op: HistoryOperation): Operation<SequenceInput, SequenceOutput> {
  // checkKey routes only sequence keys here, and validation matched output kinds to input kinds.
  return op as Operation<SequenceInput, SequenceOutput>;
}

function asRegisterOperation(op: HistoryOperation): Operation<RegisterInput, RegisterOutput> {
  return op as Operation<RegisterInput, RegisterOutput>;
}
