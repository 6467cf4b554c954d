/**
 * What the linearizability checker needs to know about an object: its
 * sequential specification, as a deterministic state machine over inputs whose
 * outputs it can judge.
 */

/** One operation of a history, as a client saw it. */
export interface Operation<Input, Output> {
  /** The client that issued it; a client has one operation in flight at a time. */
  readonly process: number;
  readonly input: Input;
  /** Monotonic time of the invocation. */
  readonly invokeMs: number;
  /**
   * "ok": it took effect once, between invocation and completion, with `output`.
   * "fail": it definitely did not take effect; the checker drops it.
   * "info": the outcome is unknown: it may take effect at any time after its
   * invocation, or never, and its output is unknown.
   */
  readonly status: "ok" | "fail" | "info";
  /** Monotonic time of the completion; null for info. */
  readonly completeMs: number | null;
  /** Null unless ok. */
  readonly output: Output | null;
}

export interface Model<State, Input, Output> {
  /** Used in reports, e.g. "register". */
  readonly name: string;
  init(): State;
  /**
   * The state after `input` takes effect in `state`, or null when `output`
   * could not have come from it. `output` null means unknown (an info
   * operation): any output is accepted. Must not mutate `state`: the search
   * backtracks to it.
   */
  step(state: State, input: Input, output: Output | null): State | null;
  /** Equal states must have equal keys: visited configurations are remembered by it. */
  stateKey(state: State): string | number;
  /**
   * True when `input` never changes the state, whatever the state. An info
   * operation with such an input is dropped (it changes nothing and its output
   * is unknown), and an answered one whose output fits the current state is
   * placed without trying alternatives (see LinearizationSearch).
   */
  isReadOnly(input: Input): boolean;
  /**
   * Info operations with equal input keys are interchangeable, so the search
   * only places the earliest unplaced one of them; this keeps many unanswered
   * operations from multiplying the search. Equal keys must mean equal inputs.
   */
  inputKey(input: Input): string | number;
  describeInput(input: Input): string;
  describeOutput(output: Output): string;
  describeState(state: State): string;
}
