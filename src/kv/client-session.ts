/**
 * The client's side of exactly-once writes: a random client id, a seq per
 * write (kept across its retries), and the lowest seq whose result the client
 * still waits for, which tells the servers which remembered results they may
 * forget (commands.ts, WriteCall).
 */
import { randomBytes } from "node:crypto";

export class ClientSession {
  readonly clientId = randomBytes(16).toString("hex");
  private nextSeq = 1;
  /** Seqs handed out and not yet finished; ascending, as a Set keeps insertion order. */
  private readonly unfinished = new Set<number>();

  begin(): number {
    const seq = this.nextSeq++;
    this.unfinished.add(seq);
    return seq;
  }

  /** The write's outcome is known (or given up on): its result may be forgotten. */
  finish(seq: number): void {
    this.unfinished.delete(seq);
  }

  get firstUnackedSeq(): number {
    const lowest = this.unfinished.values().next();
    return lowest.done === true ? this.nextSeq : lowest.value;
  }
}
