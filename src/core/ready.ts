/** What the core hands its caller after inputs: the work to persist, send and apply. */
import type { RaftErrorCode } from "../errors.js";
import type { Message } from "./messages.js";
import type { Entry, HardState, NodeId, SnapshotMeta } from "./types.js";

export type Role = "follower" | "preCandidate" | "candidate" | "leader";

export interface SoftState {
  readonly role: Role;
  readonly leaderId: NodeId | null;
}

/** The answer to readIndex(context): apply up to `index`, then read. Or why it failed. */
export interface ReadState {
  readonly context: string;
  /** -1 when `error` is set. */
  readonly index: number;
  readonly error: RaftErrorCode | null;
}

/** The outcome of proposeConfChange(requestId): the configuration entry's index, or why it failed. */
export interface ConfChangeResult {
  readonly requestId: string;
  /** The index of the appended configuration entry; -1 when `error` is set. */
  readonly index: number;
  readonly error: RaftErrorCode | null;
  readonly message: string | null;
}

/**
 * The caller's duty for one Ready, in order:
 * 1. send `messages` (may happen in parallel with the writes below);
 * 2. install `snapshot`, then append `entries` (replacing any suffix from entries[0].index),
 *    then store `hardState` — all durably;
 * 3. only then send `messagesAfterPersist` (vote grants and append acknowledgements depend on it);
 * 4. apply `committedEntries` in order (they are already durable here, and never come with a
 *    snapshot, so applying may start in parallel with step 2), deliver `readStates` and
 *    `confChangeResults`;
 * 5. call advance(ready).
 * A "snapshot" message names its snapshot by index: send that one's data, or, if a
 * newer local snapshot has replaced it meanwhile, call reportSnapshot(peer, false)
 * and the leader asks again with the newer one. On the follower, step a snapshot
 * message once its data is here; if fetching it failed, send the leader a
 * snapshotStatus with reject set, which does the same as that reportSnapshot.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly snapshot: SnapshotMeta | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly confChangeResults: readonly ConfChangeResult[];
}
