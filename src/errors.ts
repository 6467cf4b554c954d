/**
 * The one error type of tsraft. Every failure a caller can act on carries a
 * code (stable, for programs) and a message (for people, saying what to do).
 */
export const RAFT_ERROR_CODES = [
  "EINVAL", // bad argument or option
  "ENOTLEADER", // this node is not the leader; leaderHint names the one it knows
  "EBUSY", // overloaded or another operation in progress; retry later
  "EPERM", // not allowed in the current state
  "EAGAIN", // not ready yet (e.g. a new leader has not committed in its term)
  "ETIMEDOUT", // gave up waiting
  "ECATCHUP", // a new peer did not catch up in time
  "ESTEPPEDDOWN", // the leader lost leadership before the operation completed
  "ESTATEMACHINE", // the user's state machine failed
  "ECORRUPT", // data on disk or on the wire is damaged
  "ESHUTDOWN", // the node is stopping or stopped
  "ECOMPACTED", // what was asked for is no longer kept (an old watch index, a forgotten session result)
  "EAUTH", // the peer did not authenticate: wrong or missing cluster secret, or a certificate the cluster CA did not sign
] as const;

export type RaftErrorCode = (typeof RAFT_ERROR_CODES)[number];

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  /** With ENOTLEADER: the leader this node believes in, if any. */
  readonly leaderHint: string | null;

  constructor(code: RaftErrorCode, message: string, leaderHint: string | null = null) {
    super(`${code}: ${message}`);
    this.name = "RaftError";
    this.code = code;
    this.leaderHint = leaderHint;
  }
}
