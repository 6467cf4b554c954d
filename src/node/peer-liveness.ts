/**
 * Which peer processes answer, watched once per transport for every group the
 * process hosts: one small request per peer address per tick, however many
 * groups. Quiesced groups send nothing, so this is how their followers learn
 * that the leader's process died (and a quiesced leader that a peer came back).
 *
 * A peer is down once it has not answered for half an election timeout, so a
 * woken follower still elects within two election timeouts of the crash. It is
 * "restarted" when its answer carries a new incarnation: a restart quicker than
 * that half timeout would otherwise go unseen.
 */
import { randomBytes } from "node:crypto";
import { RaftError } from "../errors.js";
import type { Transport } from "../transport/transport.js";
import { joinTicker } from "./shared-ticker.js";

export const LIVENESS_SERVICE = "raft.liveness";

export type LivenessEvent = "down" | "up" | "restarted";
export type LivenessListener = (address: string, event: LivenessEvent) => void;

interface PeerState {
  watchers: number;
  alive: boolean;
  lastAnswerMs: number;
  /** The incarnation the peer last answered with, null before its first answer. */
  incarnation: string | null;
  probing: boolean;
}

/** Codes that mean the peer did not answer; any other error came from a live process. */
const NO_ANSWER = new Set(["ETIMEDOUT", "EAGAIN", "ESHUTDOWN", "EBUSY"]);

export class PeerLiveness {
  private readonly peers = new Map<string, PeerState>();
  private readonly listeners = new Set<LivenessListener>();
  private leaveTicker: (() => void) | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly tickMs: number,
    private readonly downAfterMs: number,
  ) {}

  /** Watches `address` until the returned function is called (watches are counted). */
  watch(address: string): () => void {
    let peer = this.peers.get(address);
    if (peer === undefined) {
      peer = { watchers: 0, alive: true, lastAnswerMs: Date.now(), incarnation: null, probing: false };
      this.peers.set(address, peer);
    }
    peer.watchers++;
    this.leaveTicker ??= joinTicker(this.tickMs, () => this.probeAll());
    const watched = peer;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--watched.watchers > 0) return;
      this.peers.delete(address);
      if (this.peers.size === 0 && this.leaveTicker !== null) {
        this.leaveTicker();
        this.leaveTicker = null;
      }
    };
  }

  onChange(listener: LivenessListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  isAlive(address: string): boolean {
    return this.peers.get(address)?.alive ?? true;
  }

  private probeAll(): void {
    const nowMs = Date.now();
    for (const [address, peer] of this.peers) {
      if (peer.alive && nowMs - peer.lastAnswerMs > this.downAfterMs) {
        peer.alive = false;
        this.emit(address, "down");
      }
      if (!peer.probing) this.probe(address, peer);
    }
  }

  private probe(address: string, peer: PeerState): void {
    peer.probing = true;
    this.transport.request(address, LIVENESS_SERVICE, new Uint8Array(0), { timeoutMs: this.downAfterMs }).then(
      (answer) => this.answered(address, peer, answer.toString("hex")),
      (error: unknown) => {
        if (error instanceof RaftError && NO_ANSWER.has(error.code)) peer.probing = false;
        else this.answered(address, peer, null); // refused, but alive (an older peer without the service)
      },
    );
  }

  private answered(address: string, peer: PeerState, incarnation: string | null): void {
    peer.probing = false;
    if (this.peers.get(address) !== peer) return; // unwatched meanwhile
    peer.lastAnswerMs = Date.now();
    const restarted = incarnation !== null && peer.incarnation !== null && incarnation !== peer.incarnation;
    if (incarnation !== null) peer.incarnation = incarnation;
    if (!peer.alive) {
      peer.alive = true;
      this.emit(address, "up");
    } else if (restarted) {
      this.emit(address, "restarted");
    }
  }

  private emit(address: string, event: LivenessEvent): void {
    for (const listener of this.listeners) listener(address, event);
  }
}

const INCARNATION_BYTES = 8;
const watches = new WeakMap<Transport, Map<number, PeerLiveness>>();

/** The liveness watch of `transport` for nodes with this election timeout; the first call also answers probes on it. */
export function livenessOf(transport: Transport, electionTimeoutMs: number, tickMs: number): PeerLiveness {
  let byTimeout = watches.get(transport);
  if (byTimeout === undefined) {
    const incarnation = randomBytes(INCARNATION_BYTES);
    transport.handle(LIVENESS_SERVICE, () => Promise.resolve(incarnation));
    watches.set(transport, (byTimeout = new Map()));
  }
  let liveness = byTimeout.get(electionTimeoutMs);
  if (liveness === undefined) {
    liveness = new PeerLiveness(transport, tickMs, Math.max(tickMs, Math.floor(electionTimeoutMs / 2)));
    byTimeout.set(electionTimeoutMs, liveness);
  }
  return liveness;
}
