/**
 * The simulated network: every message gets its own random delay (so
 * messages reorder), may be lost or duplicated, and is dropped when its link
 * is cut, whether at send time or while in flight. Partitions are sets of
 * cut directed links, which also express non-transitive shapes (bridge, ring).
 */
import type { Message } from "../core/messages.js";
import type { NodeId } from "../core/types.js";
import type { SeededRandom } from "../core/random.js";
import type { EventQueue } from "./event-queue.js";

export interface NetworkParams {
  minDelayMs: number;
  maxDelayMs: number;
  /** Chance that a message is slow; slow messages overtake nothing and get passed by later ones. */
  slowChance: number;
  slowExtraMs: number;
  lossRate: number;
  duplicateRate: number;
  /**
   * Per-link FIFO, as over one TCP connection: a message never overtakes an
   * earlier one on the same link (a slow one holds the later ones back).
   * Without it random delays reorder freely.
   */
  fifo: boolean;
}

export const CALM_NETWORK: NetworkParams = {
  minDelayMs: 1,
  maxDelayMs: 5,
  slowChance: 0,
  slowExtraMs: 0,
  lossRate: 0,
  duplicateRate: 0,
  fifo: true,
};

export type DropReason = "loss" | "partition";

export interface NetworkHandlers<P> {
  /** The message reached its receiver's host (which may still be down: the handler decides). */
  deliver(message: Message, payload: P): void;
  /** The message will never arrive. Called at the time it would have arrived (or at send time for a cut link). */
  drop(message: Message, payload: P, reason: DropReason): void;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  cut: number;
  duplicated: number;
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

export class Network<P> {
  params: NetworkParams;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, cut: 0, duplicated: 0 };
  private cutLinks = new Set<string>();
  /** FIFO mode: the latest delivery time scheduled on each link. */
  private readonly lastArrivalMs = new Map<string, number>();

  constructor(
    private readonly random: SeededRandom,
    private readonly queue: EventQueue,
    private readonly handlers: NetworkHandlers<P>,
    params: NetworkParams = CALM_NETWORK,
  ) {
    this.params = { ...params };
  }

  canReach(from: NodeId, to: NodeId): boolean {
    return this.cutLinks.size === 0 || !this.cutLinks.has(linkKey(from, to));
  }

  isPartitioned(): boolean {
    return this.cutLinks.size > 0;
  }

  /** Replaces the current partition by cutting exactly these directed links. */
  cut(links: Iterable<readonly [NodeId, NodeId]>): void {
    this.cutLinks = new Set();
    for (const [from, to] of links) if (from !== to) this.cutLinks.add(linkKey(from, to));
  }

  heal(): void {
    this.cutLinks = new Set();
  }

  send(message: Message, payload: P): void {
    this.stats.sent++;
    if (!this.canReach(message.from, message.to)) {
      this.stats.cut++;
      this.handlers.drop(message, payload, "partition");
      return;
    }
    this.schedule(message, payload);
    if (this.params.duplicateRate > 0 && this.random.chance(this.params.duplicateRate)) {
      this.stats.duplicated++;
      this.schedule(message, payload);
    }
  }

  private schedule(message: Message, payload: P): void {
    const p = this.params;
    const lost = p.lossRate > 0 && this.random.chance(p.lossRate);
    let delayMs = p.minDelayMs + this.random.nextInt(p.maxDelayMs - p.minDelayMs + 1);
    if (p.slowChance > 0 && this.random.chance(p.slowChance)) delayMs += this.random.nextInt(p.slowExtraMs + 1);
    if (p.fifo) {
      const key = linkKey(message.from, message.to);
      const arrivalMs = Math.max(this.queue.nowMs + delayMs, this.lastArrivalMs.get(key) ?? 0);
      this.lastArrivalMs.set(key, arrivalMs);
      delayMs = arrivalMs - this.queue.nowMs;
    }
    this.queue.after(delayMs, () => {
      if (lost) {
        this.stats.lost++;
        this.handlers.drop(message, payload, "loss");
      } else if (!this.canReach(message.from, message.to)) {
        this.stats.cut++;
        this.handlers.drop(message, payload, "partition");
      } else {
        this.stats.delivered++;
        this.handlers.deliver(message, payload);
      }
    });
  }
}
