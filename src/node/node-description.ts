/** What RaftNode.describe() returns: plain JSON, for operators and tools. */
import type { ProgressState } from "../core/progress.js";
import type { ConfState, NodeId } from "../core/types.js";
import type { RaftErrorCode } from "../errors.js";
import type { NodeState } from "./node-state.js";
import type { SnapshotStatus } from "./snapshot-executor.js";
import type { SnapshotInstallStatus } from "./snapshot-installer.js";

export interface NodeDescription {
  readonly groupId: string;
  readonly serverId: NodeId;
  readonly state: NodeState;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly leaderId: NodeId | null;
  readonly firstLogIndex: number;
  readonly lastLogIndex: number;
  /** What the log on disk holds; entries before a snapshot go once it is published. */
  readonly storedLog: { readonly firstIndex: number; readonly lastIndex: number };
  readonly committedIndex: number;
  readonly appliedIndex: number;
  readonly conf: ConfState;
  readonly transferringTo: NodeId | null;
  /** Idle: no heartbeats and no election timer until there is work (NodeOptions.quiesce). */
  readonly quiesced: boolean;
  /** On the leader: each member's replication state. */
  readonly progress: Record<NodeId, { match: number; next: number; state: ProgressState }> | null;
  readonly pending: { readonly tasks: number; readonly reads: number; readonly confChanges: number; readonly applyBacklogEntries: number };
  /** Why the node is in the ERROR state, if it is. */
  readonly lastError: { readonly code: RaftErrorCode; readonly message: string } | null;
  readonly snapshot: SnapshotStatus;
  /** The latest snapshot copied from the leader (bytes done of total while it is copying); null if none since start. */
  readonly snapshotInstall: SnapshotInstallStatus | null;
  readonly electionTimeoutMs: number;
}
