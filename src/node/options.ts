/**
 * RaftNode options, with SOFAJraft's names and defaults where it has them,
 * validated with errors that say what to change. Times are in milliseconds;
 * the core counts ticks of electionTimeoutMs / ELECTION_TICKS.
 */
import { RaftError } from "../errors.js";
import { resolveCoreOptions, type CoreOptions, type ReadOnlyMode } from "../core/options.js";
import type { NodeId } from "../core/types.js";
import { parsePeerId } from "../transport/peer-address.js";
import type { Transport } from "../transport/transport.js";
import type { StateMachine } from "./state-machine.js";

/** Ticks per election timeout: the core's resolution of time. */
export const ELECTION_TICKS = 10;

export interface NodeOptions {
  /** The Raft group this node belongs to. */
  readonly groupId: string;
  /** This node's peer id, `ip:port[:index[:priority]]`; its address is where the transport listens. */
  readonly serverId: NodeId;
  /** Where the log, the hard state and the snapshots live; created private to the user. */
  readonly dataDir: string;
  /** Voters of the cluster on the first boot of an empty dataDir only; afterwards the log decides. */
  readonly initialServerList?: readonly NodeId[];
  readonly stateMachine: StateMachine;
  readonly transport: Transport;
  /** Default 1000 ms. Heartbeats go every tenth of it. */
  readonly electionTimeoutMs?: number;
  /** Save a snapshot this often (0: never by time). Default 3600 s. */
  readonly snapshotIntervalSecs?: number;
  /**
   * Snapshot by time only when at least this many entries were applied since the last one; when above 0,
   * also snapshot as soon as that many were applied, which bounds the log's growth. Default 0.
   */
  readonly snapshotLogIndexMargin?: number;
  /**
   * On the leader: a follower that is sent a snapshot and fetches no chunk of it for this long is offered
   * the snapshot again (the newest one by then). Default 10 × electionTimeoutMs.
   */
  readonly installSnapshotStallMs?: number;
  /** Bytes per second that the snapshot copies of this process's followers may pull, together (0: unlimited). Default 0. */
  readonly snapshotThrottleBytesPerSec?: number;
  /** A new voter joins once within this many entries of the leader. Default 1000. */
  readonly catchupMargin?: number;
  /** Per AppendEntries message. Defaults 1024 entries, 512 KiB. */
  readonly maxEntriesPerAppend?: number;
  readonly maxBytesPerAppend?: number;
  /** Appends in flight to one follower. Default 256. */
  readonly maxInflightAppends?: number;
  /** Committed entries handed to onApply at once. Default 32. */
  readonly applyBatch?: number;
  /** fdatasync every write (default true). Off only for tests and benchmarks: acknowledged writes may be lost. */
  readonly sync?: boolean;
  /** "safe" (ReadIndex, default) or "lease". */
  readonly readOnly?: ReadOnlyMode;
  /**
   * An idle group whose followers are all up to date stops its heartbeats and election timers
   * until there is work, so many idle groups cost little; one small probe per peer process and
   * tick tells the followers if the leader's process dies. Default true. An idle leader then holds
   * no lease: its first read after a pause takes a heartbeat round.
   */
  readonly quiesce?: boolean;
  /** Proposals accepted but not yet applied; past it apply() answers EBUSY. Default 10,000. */
  readonly maxPendingTasks?: number;
  /** Reads waiting for their index or their apply; past it readIndex() answers EBUSY. Default 10,000. */
  readonly maxPendingReads?: number;
  /** How long apply(), readIndex() and membership changes wait before ETIMEDOUT. Default 5000 ms. */
  readonly requestTimeoutMs?: number;
  /** Where the node reports what it repaired, why it entered the ERROR state, and the like. Default: console. */
  readonly logger?: NodeLogger;
}

export interface NodeLogger {
  /** Events worth a line in an operator's log (a snapshot install starting and ending); optional. */
  info?(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** `logger` with every line starting with `prefix`, which says whose line it is. */
export function prefixedLogger(logger: NodeLogger, prefix: string): NodeLogger {
  return {
    info: (message) => logger.info?.(`${prefix} ${message}`),
    warn: (message) => logger.warn(`${prefix} ${message}`),
    error: (message) => logger.error(`${prefix} ${message}`),
  };
}

export interface ResolvedNodeOptions extends Required<Omit<NodeOptions, "initialServerList">> {
  readonly initialServerList: readonly NodeId[];
  readonly tickMs: number;
  readonly core: Partial<CoreOptions>;
}

export function resolveNodeOptions(options: NodeOptions): ResolvedNodeOptions {
  const requireString = (value: unknown, name: string): void => {
    if (typeof value !== "string" || value.length === 0) throw new RaftError("EINVAL", `option ${name} is required (a non-empty string)`);
  };
  requireString(options.groupId, "groupId");
  requireString(options.serverId, "serverId");
  requireString(options.dataDir, "dataDir");
  parsePeerId(options.serverId); // a clear EINVAL showing the expected form
  for (const id of options.initialServerList ?? []) parsePeerId(id);
  if (options.stateMachine === undefined || typeof options.stateMachine.onApply !== "function") {
    throw new RaftError("EINVAL", "option stateMachine is required: an object with onApply, onSnapshotSave and onSnapshotLoad");
  }
  if (options.transport === undefined) throw new RaftError("EINVAL", "option transport is required (a TcpTransport or a MemoryTransport)");
  const electionTimeoutMs = options.electionTimeoutMs ?? 1000;
  const resolved: ResolvedNodeOptions = {
    groupId: options.groupId,
    serverId: options.serverId,
    dataDir: options.dataDir,
    initialServerList: options.initialServerList ?? [],
    stateMachine: options.stateMachine,
    transport: options.transport,
    electionTimeoutMs,
    snapshotIntervalSecs: options.snapshotIntervalSecs ?? 3600,
    snapshotLogIndexMargin: options.snapshotLogIndexMargin ?? 0,
    installSnapshotStallMs: options.installSnapshotStallMs ?? 10 * electionTimeoutMs,
    snapshotThrottleBytesPerSec: options.snapshotThrottleBytesPerSec ?? 0,
    catchupMargin: options.catchupMargin ?? 1000,
    maxEntriesPerAppend: options.maxEntriesPerAppend ?? 1024,
    maxBytesPerAppend: options.maxBytesPerAppend ?? 512 * 1024,
    maxInflightAppends: options.maxInflightAppends ?? 256,
    applyBatch: options.applyBatch ?? 32,
    sync: options.sync ?? true,
    readOnly: options.readOnly ?? "safe",
    quiesce: options.quiesce ?? true,
    maxPendingTasks: options.maxPendingTasks ?? 10_000,
    maxPendingReads: options.maxPendingReads ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 5000,
    logger: options.logger ?? console,
    tickMs: 0,
    core: {},
  };
  const atLeast = (name: keyof NodeOptions, min: number): void => {
    const value = resolved[name as keyof ResolvedNodeOptions];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
      throw new RaftError("EINVAL", `option ${name} must be an integer of at least ${min}, got ${String(value)}`);
    }
  };
  atLeast("electionTimeoutMs", ELECTION_TICKS * 5);
  atLeast("snapshotIntervalSecs", 0);
  atLeast("snapshotLogIndexMargin", 0);
  atLeast("installSnapshotStallMs", 1);
  atLeast("snapshotThrottleBytesPerSec", 0);
  atLeast("applyBatch", 1);
  atLeast("maxPendingTasks", 1);
  atLeast("maxPendingReads", 1);
  atLeast("requestTimeoutMs", 1);
  if (typeof resolved.quiesce !== "boolean") throw new RaftError("EINVAL", `option quiesce must be true or false, got ${String(resolved.quiesce)}`);
  const core: Partial<CoreOptions> = {
    electionTicks: ELECTION_TICKS,
    heartbeatTicks: 1,
    readOnly: resolved.readOnly,
    quiesce: resolved.quiesce,
    // Followers learn of a commit with the next append or heartbeat (a tick at most), as in
    // SOFAJraft: an empty append per commit doubles the frames of a lone write.
    immediateCommitNews: false,
    catchupMargin: resolved.catchupMargin,
    maxEntriesPerAppend: resolved.maxEntriesPerAppend,
    maxBytesPerAppend: resolved.maxBytesPerAppend,
    maxInflightAppends: resolved.maxInflightAppends,
    maxPendingReads: resolved.maxPendingReads,
    // The election priority is part of each peer id, as in SOFAJraft.
    priorityOf: (id) => parsePeerId(id).priority,
  };
  resolveCoreOptions(core); // the core's own checks, with its messages
  return { ...resolved, tickMs: resolved.electionTimeoutMs / ELECTION_TICKS, core };
}
