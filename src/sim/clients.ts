/**
 * Simulated clients: they propose small unique commands and start reads, at
 * random intervals drawn from the seed. A client remembers the leader it was
 * last pointed to (ENOTLEADER carries a hint) and otherwise asks anyone.
 */
import type { SeededRandom } from "../core/random.js";
import type { NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import type { Cluster } from "./cluster.js";
import type { SimNode } from "./sim-node.js";

const encoder = new TextEncoder();

export interface ClientStats {
  proposed: number;
  refused: number;
  acked: number;
  reads: number;
  readsRefused: number;
}

export class Clients {
  readonly stats: ClientStats = { proposed: 0, refused: 0, acked: 0, reads: 0, readsRefused: 0 };
  private proposalSeq = 0;
  private readSeq = 0;
  private leaderGuess: NodeId | null = null;
  private running = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly random: SeededRandom,
    /** Prefix of every payload and read context, e.g. the seed. */
    private readonly label: string,
  ) {
    cluster.onAck(() => this.stats.acked++);
  }

  /**
   * Proposals and reads every `meanProposalGapMs` / `meanReadGapMs` on average, until stop().
   * With `pauses`, the clients also fall silent together now and then, long enough for
   * the group to go idle (and quiesce, when the seed quiesces).
   */
  start(meanProposalGapMs: number, meanReadGapMs: number, pauses: { readonly meanEveryMs: number; readonly maxMs: number } | null = null): void {
    this.running = true;
    const queue = this.cluster.queue;
    let silentUntilMs = 0;
    const loop = (meanGapMs: number, action: () => void): void => {
      queue.after(1 + this.random.nextInt(2 * meanGapMs), () => {
        if (!this.running) return;
        if (queue.nowMs >= silentUntilMs) action();
        loop(meanGapMs, action);
      });
    };
    loop(meanProposalGapMs, () => this.propose());
    loop(meanReadGapMs, () => this.read());
    if (pauses === null) return;
    const pauseLoop = (): void => {
      queue.after(1 + this.random.nextInt(2 * pauses.meanEveryMs), () => {
        if (!this.running) return;
        silentUntilMs = queue.nowMs + 1 + this.random.nextInt(pauses.maxMs);
        pauseLoop();
      });
    };
    pauseLoop();
  }

  stop(): void {
    this.running = false;
  }

  /** Proposes one command; returns the label it carries, or null when no node took it. */
  propose(target: SimNode | null = this.pickTarget(), label = `${this.label}-p${++this.proposalSeq}`): { label: string; index: number; term: number } | null {
    if (!target) return null;
    const result = target.propose(encoder.encode(label), label);
    if (result instanceof RaftError) {
      this.stats.refused++;
      this.learnLeader(result);
      return null;
    }
    this.stats.proposed++;
    return { label, ...result };
  }

  read(): void {
    const running = this.cluster.runningNodes();
    if (running.length === 0) return;
    const node = this.random.pick(running);
    const error = node.readIndex(`${this.label}-r${++this.readSeq}`);
    if (error) {
      this.stats.readsRefused++;
      this.learnLeader(error);
    } else {
      this.stats.reads++;
    }
  }

  private learnLeader(error: RaftError): void {
    if (error.code === "ENOTLEADER") this.leaderGuess = error.leaderHint;
  }

  private pickTarget(): SimNode | null {
    if (this.leaderGuess !== null && this.random.chance(0.9)) {
      const guess = this.cluster.node(this.leaderGuess);
      if (guess.isUp) return guess;
    }
    const running = this.cluster.runningNodes();
    return running.length === 0 ? null : this.random.pick(running);
  }
}
