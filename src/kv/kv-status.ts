/**
 * A KV server's status, for tools (`npm start`'s status line): the node's
 * role, term and indexes and how many calls it served. Small JSON both ways;
 * it is asked about once a second, far from the hot path.
 */
import type { NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import type { NodeState } from "../node/node-state.js";
import type { Transport } from "../transport/transport.js";
import { KV_STATUS_SERVICE } from "./kv-service.js";

export interface KvServerStatus {
  readonly groupId: string;
  readonly serverId: NodeId;
  readonly state: NodeState;
  readonly term: number;
  readonly leaderId: NodeId | null;
  readonly committedIndex: number;
  readonly appliedIndex: number;
  /** Calls answered with a result (not an error) since the server started. */
  readonly callsServed: number;
  readonly keys: number;
}

const encoder = new TextEncoder();
const MAX_STATUS_BYTES = 64 * 1024;

export function encodeStatusRequest(groupId: string): Uint8Array {
  return encoder.encode(JSON.stringify({ groupId }));
}

export function decodeStatusRequest(payload: Buffer): string {
  const request = parseJson(payload, "EINVAL", "a status request") as { groupId?: unknown };
  if (typeof request?.groupId !== "string") throw new RaftError("EINVAL", 'a status request is {"groupId": "..."}');
  return request.groupId;
}

export function encodeStatus(status: KvServerStatus): Uint8Array {
  return encoder.encode(JSON.stringify(status));
}

export async function fetchKvStatus(transport: Transport, address: string, groupId: string, timeoutMs: number): Promise<KvServerStatus> {
  const answer = await transport.request(address, KV_STATUS_SERVICE, encodeStatusRequest(groupId), { timeoutMs });
  const status = parseJson(answer, "ECORRUPT", `the status from ${address}`) as KvServerStatus;
  if (typeof status?.serverId !== "string" || typeof status.term !== "number" || typeof status.callsServed !== "number") {
    throw new RaftError("ECORRUPT", `the status from ${address} lacks serverId, term or callsServed`);
  }
  return status;
}

function parseJson(payload: Buffer, code: "EINVAL" | "ECORRUPT", what: string): unknown {
  if (payload.length > MAX_STATUS_BYTES) throw new RaftError(code, `${what} of ${payload.length} bytes is above ${MAX_STATUS_BYTES}`);
  try {
    return JSON.parse(payload.toString("utf8"));
  } catch (error) {
    throw new RaftError(code, `${what} is not JSON: ${(error as Error).message}`);
  }
}
