/**
 * Is a history of one object linearizable? The Wing–Gong–Lowe search with
 * Lowe's memo of visited configurations, as Porcupine does it: try to place
 * each candidate operation next (one whose call precedes the first pending
 * return), descend on success, backtrack when a return is reached with its
 * operation unplaced. Unanswered (info) operations may be placed at any point
 * after their invocation or never, so the search succeeds once every answered
 * operation is placed.
 *
 * Four reductions keep it fast without changing any verdict, each argued where
 * it is made: fitting reads are placed without alternatives
 * (fittingRead), unanswered operations are placed only where they change the
 * state, interchangeable unanswered operations are placed in one order
 * (TwinClasses), and configurations with extra unanswered operations placed
 * are skipped when the smaller one was visited (VisitedConfigurations).
 */
import { RaftError } from "../errors.js";
import { buildCallLists, lift, unlift, type CallLists, type ListEntry } from "./call-list.js";
import { describeFailure } from "./excerpt.js";
import type { Model, Operation } from "./model.js";
import { SearchBudget, type SearchLimits } from "./search-budget.js";
import { TwinClasses } from "./twin-classes.js";
import { VisitedConfigurations, operationHash, wordsFor } from "./visited-configurations.js";

export interface SearchStats {
  /** Operations searched: failed ones and unanswered read-only ones are left out. */
  readonly operations: number;
  readonly steps: number;
  readonly visitedConfigurations: number;
}

/** Where the search got furthest before it ran out of options. Indexes point into the operations given. */
export interface SearchFailure<State> {
  /** The longest linearizable prefix found (most answered operations), in linearization order. */
  readonly longestPrefix: readonly number[];
  readonly stateAfterPrefix: State;
  /** The answered operation outside the prefix that returned first: it could not be placed in time. */
  readonly stuck: number;
  /**
   * Operations outside the prefix invoked before `stuck` returned, `stuck`
   * among them: answered ones by invocation, then unanswered ones newest first.
   */
  readonly unplaced: readonly number[];
}

export type LinearizabilityVerdict<State> =
  | { readonly linearizable: true; readonly stats: SearchStats }
  | { readonly linearizable: false; readonly stats: SearchStats; readonly failure: SearchFailure<State> }
  | { readonly linearizable: "unknown"; readonly stats: SearchStats; readonly reason: string };

export type LinearizabilityResult<State> = LinearizabilityVerdict<State> & {
  /** A readable account of the failure, or of why the answer is unknown; null when linearizable. */
  readonly excerpt: string | null;
};

/** Checks one object's history against `model`, within `limits`. */
export function checkLinearizable<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  limits: SearchLimits = {},
): LinearizabilityResult<State> {
  const verdict = searchLinearization(model, operations, new SearchBudget(limits));
  const subject = `the ${model.name} history`;
  switch (verdict.linearizable) {
    case true:
      return { ...verdict, excerpt: null };
    case false:
      return { ...verdict, excerpt: describeFailure(model, subject, operations, verdict.failure, verdict.stats.operations) };
    case "unknown":
      return { ...verdict, excerpt: `${subject}: unknown: ${verdict.reason}` };
  }
}

interface Frame<State> {
  readonly call: ListEntry;
  readonly stateBefore: State;
  readonly stateKeyBefore: string | number;
  readonly parent: Frame<State> | null;
  /** Where the scan stood when this operation was placed, to resume it after taking it back. */
  readonly scanAt: ListEntry;
  readonly scanningUnanswered: boolean;
  readonly firstReturnRank: number;
  /** Placed as a safe move: if it leads nowhere, neither does its parent configuration. */
  readonly committed: boolean;
}

/** The search itself, spending from a budget that may be shared by many objects. */
export function searchLinearization<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  budget: SearchBudget,
): LinearizabilityVerdict<State> {
  return new LinearizationSearch(model, operations, budget).run();
}

/**
 * Answered candidates are tried first, oldest first, as in WGL. Only when none
 * fits does the scan turn to the unanswered ones invoked before the first
 * pending return, newest first: an unanswered operation that took effect is
 * usually seen soon after it was invoked, while old ones that are still
 * unplaced usually never took effect. An unanswered operation is only placed
 * where it changes the state: placing it where it changes nothing explains
 * nothing, and it stays available for later.
 */
class LinearizationSearch<State, Input, Output> {
  private readonly searched: number[];
  private readonly inputs: Input[];
  /** Null for unanswered operations: their output is unknown. */
  private readonly outputs: (Output | null)[];
  private readonly lists: CallLists;
  private readonly twins: TwinClasses;
  private readonly visited: VisitedConfigurations;
  /** Each operation's bit in the placed answered set, or in the placed unanswered set. */
  private readonly bitIndex: Int32Array;
  private readonly answeredPlaced: Uint32Array;
  private answeredPlacedHash = 0;
  private readonly unansweredPlaced: Uint32Array;
  private readonly answeredTotal: number;
  private answeredLeft: number;
  private state: State;
  private stateKey: string | number;
  private top: Frame<State> | null = null;
  private best: { frame: Frame<State> | null; state: State; answeredPlaced: number };
  private cursor: ListEntry | null;
  private scanningUnanswered = false;
  private firstReturnRank = 0;
  private steps = 0;
  private memoFull = false;
  /** True right after a placement, before the new configuration's first scan. */
  private fresh = true;

  constructor(
    private readonly model: Model<State, Input, Output>,
    operations: readonly Operation<Input, Output>[],
    private readonly budget: SearchBudget,
  ) {
    this.searched = operationsToSearch(model, operations);
    this.inputs = this.searched.map((index) => operations[index].input);
    this.outputs = this.searched.map((index) => (operations[index].status === "ok" ? operations[index].output : null));
    this.lists = buildCallLists(this.searched.map((index) => timingOf(operations[index])));
    this.twins = new TwinClasses(this.searched.length, this.lists.unanswered, (operation) => model.inputKey(this.inputs[operation]));
    this.answeredTotal = this.outputs.filter((output) => output !== null).length;
    const unansweredTotal = this.searched.length - this.answeredTotal;
    this.visited = new VisitedConfigurations(this.answeredTotal, unansweredTotal, budget.maxMemoEntries, budget.maxMemoBytes);
    this.answeredPlaced = new Uint32Array(wordsFor(this.answeredTotal));
    this.unansweredPlaced = new Uint32Array(wordsFor(unansweredTotal));
    let answered = 0;
    let unanswered = 0;
    this.bitIndex = Int32Array.from(this.outputs, (output) => (output === null ? unanswered++ : answered++));
    this.answeredLeft = this.answeredTotal;
    this.state = model.init();
    this.stateKey = model.stateKey(this.state);
    this.best = { frame: null, state: this.state, answeredPlaced: 0 };
    this.cursor = this.lists.answered.next;
  }

  run(): LinearizabilityVerdict<State> {
    while (this.answeredLeft > 0) {
      if (!this.budget.spendStep()) return { linearizable: "unknown", stats: this.stats(), reason: this.budget.exhaustion! };
      this.steps++;
      if (!this.advance()) return { linearizable: false, stats: this.stats(), failure: this.describeStuck() };
      if (this.memoFull) {
        const reason = `the memo of visited configurations is full at ${this.visited.size} entries (maxMemoEntries ${this.budget.maxMemoEntries}, maxMemoBytes ${this.budget.maxMemoBytes})`;
        return { linearizable: "unknown", stats: this.stats(), reason };
      }
    }
    return { linearizable: true, stats: this.stats() };
  }

  /** One move of the search: place an operation, pass over a candidate, or backtrack. False when nothing is left to try. */
  private advance(): boolean {
    if (this.fresh) {
      this.fresh = false;
      const safe = this.fittingRead();
      if (safe !== null) {
        if (!this.tryToPlace(safe, safe, true)) this.abandonConfiguration();
        return true;
      }
    }
    // Never null: an unplaced answered call has its return after it, and
    // the unanswered scan runs backwards to the list's head.
    const entry = this.cursor!;
    if (!this.scanningUnanswered) {
      if (!entry.isCall) {
        this.scanningUnanswered = true;
        this.firstReturnRank = entry.rank;
        this.cursor = lastInvokedBefore(this.lists.unanswered, entry.rank);
      } else if (!this.tryToPlace(entry, entry)) {
        this.cursor = entry.next;
      }
    } else if (entry !== this.lists.unanswered) {
      const worthTrying = this.twins.isNewestBefore(entry, this.firstReturnRank);
      if (!worthTrying || !this.tryToPlace(this.twins.earliestUnplaced(entry), entry)) this.cursor = entry.prev;
    } else if (this.top !== null) {
      this.takeBack(this.top);
    } else {
      return false;
    }
    return true;
  }

  /**
   * A read-only answered candidate whose output fits the current state (a
   * read that sees the current value) can safely go next: any linearization
   * from here can be rearranged to place it first, since every operation that
   * had to precede it is placed, and taking it out of its later place changes
   * no state. So the search commits to it and tries no alternative, which
   * removes the interleavings of reads with each other and with writes.
   */
  private fittingRead(): ListEntry | null {
    for (let entry = this.lists.answered.next; entry !== null && entry.isCall; entry = entry.next) {
      const operation = entry.operation;
      if (this.model.isReadOnly(this.inputs[operation]) && this.model.step(this.state, this.inputs[operation], this.outputs[operation]) !== null) return entry;
    }
    return null;
  }

  /** Makes the scan of the current configuration end, so that the next step backtracks. */
  private abandonConfiguration(): void {
    this.scanningUnanswered = true;
    this.cursor = this.lists.unanswered;
  }

  /** Places `call` next if its output fits and the configuration is new; then the scan starts over. */
  private tryToPlace(call: ListEntry, scanAt: ListEntry, committed = false): boolean {
    const operation = call.operation;
    const output = this.outputs[operation];
    const next = this.model.step(this.state, this.inputs[operation], output);
    if (next === null) return false;
    const nextKey = this.model.stateKey(next);
    if (output === null && nextKey === this.stateKey) return false;
    this.toggle(operation);
    const visit = this.visited.visit(this.answeredPlaced, this.answeredPlacedHash, this.unansweredPlaced, nextKey);
    if (visit !== "new") {
      this.toggle(operation);
      this.memoFull = visit === "full";
      return false;
    }
    this.top = {
      call,
      stateBefore: this.state,
      stateKeyBefore: this.stateKey,
      parent: this.top,
      scanAt,
      scanningUnanswered: this.scanningUnanswered,
      firstReturnRank: this.firstReturnRank,
      committed,
    };
    this.state = next;
    this.stateKey = nextKey;
    lift(call);
    if (output === null) this.twins.count(call, 1);
    else this.answeredLeft--;
    const answeredPlaced = this.answeredTotal - this.answeredLeft;
    if (answeredPlaced > this.best.answeredPlaced) this.best = { frame: this.top, state: next, answeredPlaced };
    this.cursor = this.lists.answered.next;
    this.scanningUnanswered = false;
    this.fresh = true;
    return true;
  }

  private takeBack(frame: Frame<State>): void {
    this.top = frame.parent;
    this.state = frame.stateBefore;
    this.stateKey = frame.stateKeyBefore;
    this.toggle(frame.call.operation);
    unlift(frame.call);
    if (this.outputs[frame.call.operation] === null) this.twins.count(frame.call, -1);
    else this.answeredLeft++;
    this.scanningUnanswered = frame.scanningUnanswered;
    this.firstReturnRank = frame.firstReturnRank;
    this.cursor = frame.scanningUnanswered ? frame.scanAt.prev : frame.scanAt.next;
    if (frame.committed) this.abandonConfiguration();
  }

  private toggle(operation: number): void {
    const bit = this.bitIndex[operation];
    if (this.outputs[operation] === null) {
      this.unansweredPlaced[bit >>> 5] ^= 1 << (bit & 31);
    } else {
      this.answeredPlaced[bit >>> 5] ^= 1 << (bit & 31);
      this.answeredPlacedHash ^= operationHash(bit);
    }
  }

  private stats(): SearchStats {
    return { operations: this.searched.length, steps: this.steps, visitedConfigurations: this.visited.size };
  }

  private describeStuck(): SearchFailure<State> {
    const { callRank, returnRank } = this.lists;
    const prefix: number[] = [];
    for (let frame = this.best.frame; frame !== null; frame = frame.parent) prefix.push(frame.call.operation);
    prefix.reverse();
    const inPrefix = new Set(prefix);
    let stuck = -1;
    for (let operation = 0; operation < this.outputs.length; operation++) {
      if (this.outputs[operation] === null || inPrefix.has(operation)) continue;
      if (stuck < 0 || returnRank[operation] < returnRank[stuck]) stuck = operation;
    }
    const unplaced: number[] = [];
    for (let operation = 0; operation < this.outputs.length; operation++) {
      if (!inPrefix.has(operation) && callRank[operation] < returnRank[stuck]) unplaced.push(operation);
    }
    // Answered ones by invocation, then unanswered ones newest first: old unanswered ones are mostly noise.
    const order = (operation: number): number => (this.outputs[operation] === null ? this.outputs.length * 4 - callRank[operation] : callRank[operation]);
    unplaced.sort((a, b) => order(a) - order(b));
    return {
      longestPrefix: prefix.map((operation) => this.searched[operation]),
      stateAfterPrefix: this.best.state,
      stuck: this.searched[stuck],
      unplaced: unplaced.map((operation) => this.searched[operation]),
    };
  }
}

/** The last entry of `head`'s list ranked before `rank`, or `head` when there is none. */
function lastInvokedBefore(head: ListEntry, rank: number): ListEntry {
  let entry = head;
  while (entry.next !== null && entry.next.rank < rank) entry = entry.next;
  return entry;
}

/**
 * Indexes of the operations that constrain the search: failed ones never
 * took effect, and an unanswered read-only one changes nothing and says nothing.
 */
function operationsToSearch<Input, Output>(model: Model<unknown, Input, Output>, operations: readonly Operation<Input, Output>[]): number[] {
  const searched: number[] = [];
  operations.forEach((operation, index) => {
    validate(operation, index);
    if (operation.status === "fail") return;
    if (operation.status === "info" && model.isReadOnly(operation.input)) return;
    searched.push(index);
  });
  return searched;
}

function validate(operation: Operation<unknown, unknown>, index: number): void {
  const where = `operation ${index} (process ${operation.process})`;
  if (!Number.isFinite(operation.invokeMs)) throw new RaftError("EINVAL", `${where}: invokeMs must be a finite number, got ${operation.invokeMs}`);
  if (operation.status === "ok") {
    if (operation.completeMs === null || !(operation.completeMs >= operation.invokeMs) || !Number.isFinite(operation.completeMs)) {
      throw new RaftError("EINVAL", `${where}: an ok operation needs a finite completeMs at or after invokeMs ${operation.invokeMs}, got ${operation.completeMs}`);
    }
    if (operation.output === null) throw new RaftError("EINVAL", `${where}: an ok operation needs an output`);
  } else if (operation.status !== "fail" && operation.status !== "info") {
    throw new RaftError("EINVAL", `${where}: status must be "ok", "fail" or "info", got ${JSON.stringify(operation.status)}`);
  }
}

function timingOf(operation: Operation<unknown, unknown>): { invokeMs: number; returnMs: number | null } {
  return { invokeMs: operation.invokeMs, returnMs: operation.status === "ok" ? operation.completeMs : null };
}
