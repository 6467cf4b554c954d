/** tsraft/kv: the replicated KV store's client, server and state machine. */
export * from "./commands.js";
export { KvClient, DEFAULT_TIMEOUT_MS, DEFAULT_MAX_IN_FLIGHT, DEFAULT_SCAN_LIMIT, type KvClientOptions, type ReadOptions, type WriteOptions, type ScanOptions, type CompareAndPutItem, type SequenceRange } from "./kv-client.js";
export { DistributedLock, DEFAULT_LOCK_LEASE_MS, type DistributedLockOptions } from "./distributed-lock.js";
export { DEFAULT_WATCH_MAX_EVENTS, DEFAULT_WATCH_WAIT_MS, type WatchOptions } from "./kv-watch.js";
export { toBytes, toText, type Bytes } from "./bytes.js";
export { KvService, KvGroupServer, DEFAULT_MAX_PENDING_WRITES, DEFAULT_MAX_PENDING_READS, type KvGroupOptions } from "./kv-server.js";
export { KvStateMachine, type KvStateMachineOptions, type KvStateMachineStats } from "./kv-state-machine.js";
export { startKvProcess, type KvProcess, type KvProcessOptions } from "./kv-process.js";
export { fetchKvStatus, type KvServerStatus } from "./kv-status.js";
export { KV_SERVICE, KV_STATUS_SERVICE, DEFAULT_KV_GROUP_ID, DEFAULT_CLUSTER_NAME } from "./kv-service.js";
export { MAX_CALL_BYTES } from "./op-size.js";
