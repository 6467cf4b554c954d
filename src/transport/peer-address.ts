/**
 * Peer ids as SOFAJraft writes them, `host:port[:idx[:priority]]`: the
 * host:port part is the process's address (one listener serves every group
 * there), idx tells apart several peers of one group in one process, and
 * priority drives priority election (-1 disabled, 0 never leader).
 */
import { RaftError } from "../errors.js";
import type { NodeId } from "../core/types.js";

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
  /** `host:port`: the key of the connection to that process. */
  readonly address: string;
}

export interface PeerIdParts extends PeerAddress {
  readonly index: number;
  readonly priority: number;
}

const PEER_ID_FORM = "host:port[:idx[:priority]] (for example 127.0.0.1:8081 or 10.0.0.5:8081:0:100)";
const ADDRESS_FORM = "host:port (for example 127.0.0.1:8081)";
/** Hostnames and IPv4 literals; a colon would be ambiguous with the port separator. */
const HOST_PATTERN = /^[A-Za-z0-9.-]{1,253}$/;

export function parsePeerId(peerId: NodeId): PeerIdParts {
  const fail = (why: string): never => {
    throw new RaftError("EINVAL", `peer id "${peerId.slice(0, 300)}" is not of the form ${PEER_ID_FORM}: ${why}`);
  };
  const parts = peerId.split(":");
  if (parts.length < 2 || parts.length > 4) fail(`it has ${parts.length} colon-separated parts, expected 2 to 4`);
  const { host, port, address } = hostAndPort(parts[0]!, parts[1]!, fail);
  const index = parts.length > 2 ? integer(parts[2]!, "idx", 0, fail) : 0;
  const priority = parts.length > 3 ? integer(parts[3]!, "priority", -1, fail) : -1;
  return { host, port, address, index, priority };
}

export function parseAddress(address: string): PeerAddress {
  const fail = (why: string): never => {
    throw new RaftError("EINVAL", `address "${address.slice(0, 300)}" is not of the form ${ADDRESS_FORM}: ${why}`);
  };
  const parts = address.split(":");
  if (parts.length !== 2) fail(`it has ${parts.length} colon-separated parts, expected 2`);
  return hostAndPort(parts[0]!, parts[1]!, fail);
}

function hostAndPort(host: string, portText: string, fail: (why: string) => never): PeerAddress {
  if (!HOST_PATTERN.test(host)) fail(`host "${host.slice(0, 300)}" is empty or has characters other than letters, digits, '.' and '-'`);
  const port = integer(portText, "port", 1, fail);
  if (port > 65535) fail(`port ${port} is above 65535`);
  return { host, port, address: `${host}:${port}` };
}

function integer(text: string, what: string, min: number, fail: (why: string) => never): number {
  if (!/^-?\d{1,15}$/.test(text)) fail(`${what} "${text.slice(0, 40)}" is not an integer`);
  const value = Number(text);
  if (value < min) fail(`${what} ${value} is below ${min}`);
  return value;
}

/** `hint` when it is a well-formed peer id, else null: leader hints come from the network. */
export function peerIdOrNull(hint: string | null): NodeId | null {
  if (hint === null) return null;
  try {
    parsePeerId(hint);
    return hint;
  } catch {
    return null;
  }
}
