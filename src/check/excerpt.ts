/**
 * A short, readable account of where a history stopped being linearizable:
 * the end of the longest linearizable prefix the search found, the state it
 * leaves, and the operations that could not be placed after it.
 */
import type { Model, Operation } from "./model.js";
import type { SearchFailure } from "./linearizability.js";

/** Enough to see the context; a whole history would drown the point. */
const PREFIX_LINES = 8;
const UNPLACED_LINES = 10;

export function describeFailure<State, Input, Output>(
  model: Model<State, Input, Output>,
  subject: string,
  operations: readonly Operation<Input, Output>[],
  failure: SearchFailure<State>,
  searchedCount: number,
): string {
  const stuck = operations[failure.stuck];
  const line = (index: number): string => `  ${describeOperation(model, operations[index])}`;
  const lines = [
    `${subject} is not linearizable: at most ${failure.longestPrefix.length} of its ${searchedCount} operations can be linearized before p${stuck.process}'s ${model.describeInput(stuck.input)} returns at ${formatMs(stuck.completeMs ?? NaN)}.`,
  ];
  const shown = failure.longestPrefix.slice(-PREFIX_LINES);
  const hidden = failure.longestPrefix.length - shown.length;
  lines.push(hidden > 0 ? `longest linearizable prefix (last ${shown.length}, in linearization order; ${hidden} before):` : "longest linearizable prefix (in linearization order):");
  if (shown.length === 0) lines.push("  (none)");
  lines.push(...shown.map((index) => `${line(index)}${operations[index].status === "info" ? "   <- taken to take effect here" : ""}`));
  lines.push(`state after it: ${model.describeState(replay(model, operations, failure.longestPrefix) ?? failure.stateAfterPrefix)}`);
  lines.push("could not be placed next (invoked before that return):");
  const unplaced = failure.unplaced.slice(0, UNPLACED_LINES);
  lines.push(...unplaced.map((index) => `${line(index)}${index === failure.stuck ? "   <- returned first" : ""}`));
  if (failure.unplaced.length > unplaced.length) lines.push(`  ... and ${failure.unplaced.length - unplaced.length} more`);
  return lines.join("\n");
}

/**
 * The state after `prefix`, from the operations as recorded: the search may
 * have seen them rewritten (unobserved values collapsed), which leads to an
 * equivalent but less readable state. Null if the prefix does not replay.
 */
function replay<State, Input, Output>(model: Model<State, Input, Output>, operations: readonly Operation<Input, Output>[], prefix: readonly number[]): State | null {
  let state: State | null = model.init();
  for (const index of prefix) {
    const operation = operations[index];
    if (state === null) break;
    state = model.step(state, operation.input, operation.status === "ok" ? operation.output : null);
  }
  return state;
}

/** E.g. `p3 invoke write "5" @12.3ms ... ok @13ms`, or `p1 invoke read @4ms ... ok @6ms -> "5"`. */
export function describeOperation<Input, Output>(model: Model<unknown, Input, Output>, operation: Operation<Input, Output>): string {
  const invoked = `p${operation.process} invoke ${model.describeInput(operation.input)} @${formatMs(operation.invokeMs)} ... `;
  switch (operation.status) {
    case "ok": {
      const output = operation.output === null ? "" : model.describeOutput(operation.output);
      return `${invoked}ok @${formatMs(operation.completeMs ?? NaN)}${output === "" ? "" : ` -> ${output}`}`;
    }
    case "fail":
      return `${invoked}fail`;
    case "info":
      return `${invoked}info (no answer)`;
  }
}

export function formatMs(timeMs: number): string {
  return `${Number(timeMs.toFixed(3))}ms`;
}
