/** tsraft's public API. */
export { RaftError, type RaftErrorCode } from "./errors.js";
export { RaftCore, type CoreConfig, type CoreStatus } from "./core/raft.js";
export { resolveCoreOptions, DEFAULT_CORE_OPTIONS, type CoreOptions, type ReadOnlyMode } from "./core/options.js";
export type { Ready, ReadState, ConfChangeResult, SoftState, Role } from "./core/ready.js";
export type { Message, MessageType } from "./core/messages.js";
export type { LogReader } from "./core/log-reader.js";
export { EntryType, EMPTY_HARD_STATE, type Entry, type HardState, type ConfState, type SnapshotMeta, type NodeId } from "./core/types.js";
export type { ConfChangeTarget, ConfChangeMode } from "./core/configuration.js";
export { SeededRandom, type RandomSource } from "./core/random.js";
export { MemoryLog } from "./storage/memory-log.js";
export type { LogStorage } from "./storage/log-storage.js";
export { SegmentLog, type SegmentLogOptions } from "./storage/segment-log.js";
export type { Transport, TransportOptions, TransportStats, RaftMessageHandler, RequestHandler, RequestOptions } from "./transport/transport.js";
export { TcpTransport, type TcpTransportOptions, type TlsOptions } from "./transport/tcp-transport.js";
export { MemoryNetwork, MemoryTransport, type MemoryTransportOptions } from "./transport/memory-transport.js";
export { parsePeerId, parseAddress, type PeerAddress, type PeerIdParts } from "./transport/peer-address.js";
export { MetaStore } from "./storage/meta-store.js";
export { SnapshotStore, DEFAULT_SNAPSHOT_KEEP_COUNT, type SnapshotRef, type SnapshotStoreOptions } from "./storage/snapshot-store.js";
export type { SnapshotWriter } from "./storage/snapshot-writer.js";
export { type SnapshotReader, MAX_SNAPSHOT_READ_BYTES } from "./storage/snapshot-reader.js";
export type { SnapshotReceiver, ResumePoint, TransferProgress } from "./storage/snapshot-receiver.js";
export { encodeManifest, decodeManifest, type SnapshotManifest, type SnapshotFileEntry } from "./storage/snapshot-manifest.js";
export {
  copySnapshot,
  serveSnapshots,
  SnapshotThrottle,
  DEFAULT_CHUNK_BYTES,
  type CopySnapshotOptions,
  type SnapshotService,
  type SnapshotServiceOptions,
} from "./node/snapshot-copier.js";
export { RaftNode, routeUnreachable, type ApplyTask } from "./node/raft-node.js";
export type { NodeDescription } from "./node/node-description.js";
export type { NodeState } from "./node/node-state.js";
export { resolveNodeOptions, ELECTION_TICKS, type NodeOptions, type NodeLogger } from "./node/options.js";
export type { StateMachine, ApplyIterator, LeaderStopStatus, FollowingContext } from "./node/state-machine.js";
export type { SnapshotStatus } from "./node/snapshot-executor.js";
export { DurableLog } from "./node/durable-log.js";
export { NodeManager, nodeManager } from "./node/node-manager.js";
export { CliService, type CliServiceOptions, type ServerList, type ConfigurationChange, type GroupConfiguration, type SnapshotPoint } from "./cli/cli-service.js";
export { RouteTable } from "./cli/route-table.js";
export { parsePeerList, parsePeerIds, formatPeerList, LEARNER_SUFFIX, PEER_LIST_FORM, type PeerList, type PeerListOptions } from "./cli/peer-list.js";
