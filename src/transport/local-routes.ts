/**
 * What this process serves: Raft groups (by group id and local peer id) and
 * request services (by name). Both transports route through it, so an unknown
 * group, peer or service gets the same clear error over TCP and in memory.
 */
import { RaftError } from "../errors.js";
import type { NodeId } from "../core/types.js";
import { parsePeerId } from "./peer-address.js";
import { plainMessage, validateName } from "./protocol.js";
import type { RaftMessageHandler, RequestHandler } from "./transport.js";

export type RequestOutcome = { ok: true; payload: Uint8Array } | { ok: false; error: RaftError };

/** How many names an error lists before it says "...": enough to spot a typo, bounded for 1,000 groups. */
const NAMES_IN_ERRORS = 8;

export class LocalRoutes {
  private readonly groups = new Map<string, Map<NodeId, RaftMessageHandler>>();
  private readonly services = new Map<string, RequestHandler>();

  registerGroup(groupId: string, nodeId: NodeId, onMessage: RaftMessageHandler): void {
    validateName(groupId, "group id");
    parsePeerId(nodeId);
    let peers = this.groups.get(groupId);
    if (peers === undefined) {
      peers = new Map();
      this.groups.set(groupId, peers);
    }
    if (peers.has(nodeId)) throw new RaftError("EINVAL", `peer ${nodeId} of group "${groupId}" is already registered on this transport`);
    peers.set(nodeId, onMessage);
  }

  unregisterGroup(groupId: string, nodeId: NodeId): void {
    const peers = this.groups.get(groupId);
    if (peers === undefined) return;
    peers.delete(nodeId);
    if (peers.size === 0) this.groups.delete(groupId);
  }

  handle(service: string, handler: RequestHandler): void {
    validateName(service, "service name");
    if (this.services.has(service)) throw new RaftError("EINVAL", `service "${service}" already has a handler on this transport`);
    this.services.set(service, handler);
  }

  /** The handler for a Raft message; EINVAL names what is missing here. */
  route(groupId: string, to: NodeId): RaftMessageHandler {
    const peers = this.groups.get(groupId);
    if (peers === undefined) {
      throw new RaftError("EINVAL", `group "${groupId}" is not served by this process (it serves ${describe([...this.groups.keys()])})`);
    }
    const handler = peers.get(to);
    if (handler === undefined) {
      throw new RaftError("EINVAL", `group "${groupId}" has no peer ${to} in this process (local peers: ${describe([...peers.keys()])})`);
    }
    return handler;
  }

  /** Runs a request's handler; every failure becomes an answer, never a throw. */
  async answer(service: string, payload: Buffer, from: string): Promise<RequestOutcome> {
    const handler = this.services.get(service);
    if (handler === undefined) {
      return { ok: false, error: new RaftError("EINVAL", `no service "${service}" here (services: ${describe([...this.services.keys()])})`) };
    }
    try {
      const answer: unknown = await handler(payload, from);
      if (answer instanceof Uint8Array) return { ok: true, payload: answer };
      return { ok: false, error: new RaftError("ESTATEMACHINE", `service "${service}" answered with ${typeof answer}, not bytes (a Buffer or Uint8Array)`) };
    } catch (error) {
      if (error instanceof RaftError) return { ok: false, error };
      // A throw that is not a RaftError is a bug in the handler; say where it happened.
      const text = error instanceof Error ? error.message : String(error);
      return { ok: false, error: new RaftError("ESTATEMACHINE", `service "${service}" failed: ${text}`) };
    }
  }
}

function describe(names: string[]): string {
  if (names.length === 0) return "none";
  const shown = names.slice(0, NAMES_IN_ERRORS).map((name) => `"${name}"`).join(", ");
  return names.length > NAMES_IN_ERRORS ? `${shown} and ${names.length - NAMES_IN_ERRORS} more` : shown;
}

/** A RaftError from the far side, rebuilt locally with the same code. */
export function remoteError(error: RaftError, remote: string): RaftError {
  return new RaftError(error.code, `${plainMessage(error)} (from ${remote})`, error.leaderHint);
}
