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
