/**
 * Follows the Ready contract (core/ready.ts) with real storage: send, persist
 * (log and hard state in parallel), send what needed the writes, hand the
 * committed entries to the state machine's queue, acknowledge. Inputs that
 * arrive while a Ready is being written are stepped at once, and what they
 * produce that needs nothing durable (the leader's appends) is sent at once,
 * so the leader replicates in parallel with its own fsync.
 */
import type { Message } from "../core/messages.js";
import type { RaftCore } from "../core/raft.js";
import type { Ready, SoftState } from "../core/ready.js";
import type { NodeStorage } from "./boot.js";
import type { FsmCaller } from "./fsm-caller.js";
import type { PendingConfChanges } from "./membership.js";
import type { PendingReads } from "./pending-reads.js";

export interface ReadyHost {
  readonly core: RaftCore;
  readonly storage: NodeStorage;
  readonly fsm: FsmCaller;
  readonly reads: PendingReads;
  readonly confChanges: PendingConfChanges;
  /** False once the node stops taking part (shutdown, or halted). */
  active(): boolean;
  send(messages: readonly Message[]): void;
  onSoftState(softState: SoftState): void;
  /** Persisting failed or the core broke an invariant: nothing may go on. */
  halt(error: unknown): void;
}

export class ReadyLoop {
  private looping = false;
  private done: Promise<void> = Promise.resolve();
  private kickPending = false;

  constructor(private readonly host: ReadyHost) {}

  /** After any input: coalesces the inputs of one turn of the event loop into one round of output. */
  kick(): void {
    if (this.kickPending) return;
    this.kickPending = true;
    queueMicrotask(() => {
      this.kickPending = false;
      if (!this.host.active()) return;
      if (this.looping) {
        this.host.send(this.host.core.takeMessages());
        return;
      }
      this.looping = true;
      this.done = this.run();
    });
  }

  /** Resolves once the Ready in progress, if any, is finished (at shutdown). */
  settled(): Promise<void> {
    return this.done;
  }

  private async run(): Promise<void> {
    try {
      while (this.host.active() && this.host.core.hasReady()) await this.handle(this.host.core.ready());
    } catch (error) {
      this.host.halt(error);
    } finally {
      // Synchronous with the last hasReady() check: an input after it starts a new loop.
      this.looping = false;
    }
  }

  private async handle(ready: Ready): Promise<void> {
    const { core, storage, fsm } = this.host;
    if (ready.softState !== null) this.host.onSoftState(ready.softState);
    this.host.send(ready.messages);
    // The transport writes this turn's sends on the next tick; the log write below blocks this
    // thread for the pwrite, so let the leader's appends leave first and the followers' flushes
    // start as early as they can. (Writing ours first measured no faster end to end.)
    if (ready.messages.length > 0 && ready.entries.length > 0) await nextTick();
    const writes: Promise<void>[] = [];
    if (ready.snapshot !== null) {
      // Published in the snapshot store before its message was stepped; the log now starts after it.
      storage.durableLog.setSnapshot(ready.snapshot);
      writes.push(storage.durableLog.log.reset(ready.snapshot.index + 1));
    }
    if (ready.entries.length > 0) writes.push(storage.durableLog.log.append(ready.entries));
    // Term and vote must be durable before the messages that depend on them; the commit
    // index need not be (a restart learns it again from the leader), and saving it on
    // every Ready would cost two fsyncs per batch.
    const hardState = ready.hardState;
    const saved = storage.meta.hardState;
    if (hardState !== null && (hardState.term !== saved.term || hardState.vote !== saved.vote)) writes.push(storage.meta.save(hardState));
    // Committed entries handed out are already on this node's disk (the core gives none past its
    // stable index, none beside a snapshot), so they may apply while this Ready's writes flush: a
    // leader's answers then never wait for the fsync of the batch behind them. But applying holds
    // this thread, and a follower's acknowledgement, which the leader's commit waits for, would
    // wait behind it: a Ready that acknowledges applies after it has sent its answers.
    const acknowledges = ready.messagesAfterPersist.length > 0;
    if (!acknowledges) fsm.enqueueEntries(ready.committedEntries);
    await Promise.all(writes);
    if (!this.host.active()) return; // stopping: the Ready stays unacknowledged, nothing after it may happen
    this.host.send(ready.messagesAfterPersist);
    if (acknowledges) {
      await nextTick(); // the transport writes the answers on the next tick: before the apply
      fsm.enqueueEntries(ready.committedEntries);
    }
    if (ready.snapshot !== null) fsm.enqueueSnapshotLoad(ready.snapshot);
    for (const state of ready.readStates) this.host.reads.onReadState(state, fsm.appliedIndex);
    for (const result of ready.confChangeResults) this.host.confChanges.onResult(result, (index) => core.term(index));
    core.advance(ready);
    await fsm.whenRoom(); // back-pressure from a slow state machine
  }
}

function nextTick(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve));
}
