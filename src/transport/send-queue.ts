/**
 * The frames waiting for one connection, bounded in count and in bytes. Only
 * this queue grows while a peer is slow: the socket itself is written only
 * while it reports room (see OutboundConnection.flush).
 */
import type { NodeId } from "../core/types.js";

export interface QueuedFrame {
  readonly frame: Buffer;
  /** Set for Raft frames, so a dropped one can be reported unreachable. */
  readonly raft: { readonly groupId: string; readonly peerId: NodeId } | null;
}

export class SendQueue {
  private items: QueuedFrame[] = [];
  /** Index of the oldest item: shifting an array is O(n), moving an index is not. */
  private head = 0;
  private queuedBytes = 0;

  constructor(
    private readonly maxFrames: number,
    private readonly maxBytes: number,
  ) {}

  get frames(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** False when the frame does not fit; the caller decides what a refusal means. */
  offer(item: QueuedFrame): boolean {
    if (this.frames >= this.maxFrames || this.queuedBytes + item.frame.length > this.maxBytes) return false;
    this.items.push(item);
    this.queuedBytes += item.frame.length;
    return true;
  }

  shift(): QueuedFrame | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.head++;
    this.queuedBytes -= item.frame.length;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Empties the queue and returns what was in it. */
  clear(): QueuedFrame[] {
    const dropped = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.queuedBytes = 0;
    return dropped;
  }
}
