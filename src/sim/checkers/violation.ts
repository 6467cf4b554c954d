/** A broken invariant found by the simulator: the run stops and reports it with its seed and trace. */

export type ViolationKind =
  | "election-safety"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "apply-order"
  | "monotonic-term"
  | "double-vote"
  | "monotonic-commit"
  | "read-linearizability"
  | "liveness"
  | "event-storm"
  | "core-invariant"
  | "core-crash"
  | "sim-error";

export class Violation extends Error {
  readonly kind: ViolationKind;

  constructor(kind: ViolationKind, message: string) {
    super(`${kind}: ${message}`);
    this.name = "Violation";
    this.kind = kind;
  }
}
