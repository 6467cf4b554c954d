/**
 * Invariant checks. A failed invariant is a bug in tsraft, never bad input:
 * stopping loudly is safer than going on with a state Raft's proofs do not cover.
 */
export class InvariantError extends Error {
  constructor(message: string) {
    super(`invariant violated: ${message}`);
    this.name = "InvariantError";
  }
}

export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === "string" ? message : message());
}

/** Indexes and terms are safe integers; this guards where they are created. */
export function assertIndex(value: number, what: string): void {
  invariant(Number.isSafeInteger(value) && value >= 0, () => `${what} must be a non-negative safe integer, got ${value}`);
}
