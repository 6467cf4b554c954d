/** Names shared by the KV server, its client and the `tsraft` commands. */

/** The transport service that answers KvRequests (kv-codec.ts frames). */
export const KV_SERVICE = "kv";
/** The transport service that answers a server's status (kv-status.ts), for tools such as `npm start`. */
export const KV_STATUS_SERVICE = "kv-status";
export const DEFAULT_KV_GROUP_ID = "kv";
/** The clusterName of `tsraft serve` unless told otherwise; the same as `tsraft admin`'s default. */
export const DEFAULT_CLUSTER_NAME = "tsraft";
