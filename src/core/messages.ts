/**
 * The messages Raft peers exchange. The core produces and consumes them; the
 * transport (or the simulator) carries them. Every message names its sender,
 * its receiver and the sender's term.
 */
import type { RaftErrorCode } from "../errors.js";
import type { Entry, NodeId, SnapshotMeta } from "./types.js";

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** Pre-vote (thesis §9.6): "would you vote for me at `term`?" — changes no state. */
export interface PreVoteRequest extends Envelope {
  readonly type: "preVote";
  readonly lastIndex: number;
  readonly lastTerm: number;
}
export interface PreVoteResponse extends Envelope {
  readonly type: "preVoteResp";
  readonly reject: boolean;
}

/** RequestVote (§5.2). `force` is set by a leadership transfer (thesis §3.10) to bypass leader stickiness. */
export interface VoteRequest extends Envelope {
  readonly type: "vote";
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly force: boolean;
}
export interface VoteResponse extends Envelope {
  readonly type: "voteResp";
  readonly reject: boolean;
}

/** AppendEntries (§5.3). */
export interface AppendRequest extends Envelope {
  readonly type: "append";
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}
/**
 * Answer to append or snapshot. On success `index` is the follower's last
 * matching index. On reject `index` is the rejected prevIndex, and
 * (hintIndex, hintTerm) let the leader skip a whole conflicting term at once.
 */
export interface AppendResponse extends Envelope {
  readonly type: "appendResp";
  readonly reject: boolean;
  readonly index: number;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/**
 * Heartbeat: keeps followers from starting elections and confirms leadership
 * for reads. `readSeq` confirms pending ReadIndex requests; `sentTick` is the
 * leader's clock when sent, which bounds its lease.
 */
export interface HeartbeatRequest extends Envelope {
  readonly type: "heartbeat";
  readonly commit: number;
  readonly readSeq: number;
  readonly sentTick: number;
  /** The group is idle and every follower is up to date: stop counting towards an election until the leader speaks again. */
  readonly quiesce: boolean;
}
export interface HeartbeatResponse extends Envelope {
  readonly type: "heartbeatResp";
  readonly readSeq: number;
  readonly sentTick: number;
}

/**
 * InstallSnapshot (§7). The core only carries the metadata; the runtime moves
 * the snapshot's bytes (in chunks) and delivers this message to the follower's
 * core once they are all there.
 */
export interface SnapshotRequest extends Envelope {
  readonly type: "snapshot";
  readonly snapshot: SnapshotMeta;
}

/**
 * The follower's word on a snapshot message, by the snapshot's index. The
 * runtime sends `reject: true` when copying the snapshot's bytes failed, so
 * the leader offers a snapshot again at once instead of waiting for a timeout;
 * success needs no such report, the follower's appendResp after installing
 * says it.
 */
export interface SnapshotStatusReport extends Envelope {
  readonly type: "snapshotStatus";
  readonly index: number;
  readonly reject: boolean;
}

/** Leadership transfer (thesis §3.10): "start an election now". */
export interface TimeoutNowRequest extends Envelope {
  readonly type: "timeoutNow";
}

/** A follower asks the leader for a read index on behalf of its client. */
export interface ReadIndexRequest extends Envelope {
  readonly type: "readIndex";
  readonly context: string;
}
export interface ReadIndexResponse extends Envelope {
  readonly type: "readIndexResp";
  readonly context: string;
  /** -1 when the leader refused (then `error` says why). */
  readonly index: number;
  readonly error: RaftErrorCode | null;
}

export type Message =
  | PreVoteRequest
  | PreVoteResponse
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotRequest
  | SnapshotStatusReport
  | TimeoutNowRequest
  | ReadIndexRequest
  | ReadIndexResponse;

export type MessageType = Message["type"];
