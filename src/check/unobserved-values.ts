/**
 * Written values that no operation observes are indistinguishable: no read
 * returns them and no compare-and-set expects them, so a register holding one
 * behaves exactly like a register holding another. Rewriting them all to one
 * stand-in value loses no verdict, and it makes unanswered writes of such
 * values equal inputs, which the search then treats as interchangeable: a
 * history with many timed-out writes that were never read stays cheap.
 */
import type { Operation } from "./model.js";
import type { RegisterInput, RegisterOutput } from "./register-model.js";

/**
 * The operations in the same order, those that write an unobserved value
 * writing the stand-in instead: a string that no operation observes.
 */
export function collapseUnobservedValues(operations: readonly Operation<RegisterInput, RegisterOutput>[]): Operation<RegisterInput, RegisterOutput>[] {
  const observed = observedValues(operations);
  let standIn = "(a value no operation observed)";
  while (observed.has(standIn)) standIn += "'";
  return operations.map((operation) => {
    const input = operation.input;
    if (input.kind === "read" || input.kind === "delete" || observed.has(input.value)) return operation;
    return { ...operation, input: { ...input, value: standIn } };
  });
}

function observedValues(operations: readonly Operation<RegisterInput, RegisterOutput>[]): Set<string> {
  const observed = new Set<string>();
  const see = (value: string | null): void => {
    if (value !== null) observed.add(value);
  };
  for (const { input, output } of operations) {
    if (input.kind === "cas") see(input.expect);
    if (output === null) continue;
    if (output.kind === "read") see(output.value);
    if (output.kind === "putIfAbsent" || output.kind === "getAndPut") see(output.previous);
  }
  return observed;
}
