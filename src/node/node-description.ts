/** What RaftNode.describe() returns: plain JSON, for operators and tools; and its assembly from the node's parts. */
import type { ProgressState } from "../core/progress.js";
import type { RaftCore } from "../core/raft.js";
import type { ConfState, NodeId } from "../core/types.js";
import type { RaftError, RaftErrorCode } from "../errors.js";
import type { NodeStorage } from "./boot.js";
import type { ClientRequests } from "./client-requests.js";
import type { FsmCaller } from "./fsm-caller.js";
import type { NodeState } from "./node-state.js";
import type { ResolvedNodeOptions } from "./options.js";
import type { SnapshotExecutor, SnapshotStatus } from "./snapshot-executor.js";
import type { SnapshotInstaller, SnapshotInstallStatus } from "./snapshot-installer.js";

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

/** The parts of a RaftNode that describe() reads. */
export interface DescribedParts {
  readonly options: ResolvedNodeOptions;
  readonly state: NodeState;
  readonly lastError: RaftError | null;
  readonly core: RaftCore;
  readonly storage: NodeStorage;
  readonly fsm: FsmCaller;
  readonly requests: ClientRequests;
  readonly snapshots: SnapshotExecutor;
  readonly installer: SnapshotInstaller;
}

export function describeNode(node: DescribedParts): NodeDescription {
  const { options, core, storage, fsm, lastError } = node;
  const { tasks, reads, confChanges } = node.requests;
  const status = core.status();
  return {
    groupId: options.groupId,
    serverId: options.serverId,
    state: node.state,
    term: status.term,
    vote: status.vote,
    leaderId: status.leaderId,
    firstLogIndex: status.firstIndex,
    lastLogIndex: status.lastIndex,
    storedLog: { firstIndex: storage.durableLog.log.firstIndex(), lastIndex: storage.durableLog.log.lastIndex() },
    committedIndex: status.commit,
    appliedIndex: fsm.appliedIndex,
    conf: status.conf,
    transferringTo: status.leadTransferee,
    quiesced: core.quiesced,
    progress: status.progress,
    pending: { tasks: tasks.size, reads: reads.size, confChanges: confChanges.size, applyBacklogEntries: fsm.pendingEntries },
    lastError: lastError === null ? null : { code: lastError.code, message: lastError.message },
    snapshot: node.snapshots.status(),
    snapshotInstall: node.installer.status(),
    electionTimeoutMs: options.electionTimeoutMs,
  };
}
