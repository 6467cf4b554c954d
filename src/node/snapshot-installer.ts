/**
 * The follower's side of snapshot install for a RaftNode (§7). The leader's
 * snapshot message carries only metadata; it is stepped into the core once
 * the snapshot's files are copied from the leader and published here, and
 * the core's Ready then resets the log and has the state machine load it.
 *
 * One copy at a time (the store takes one receive). A copy cut short (shutdown,
 * a broken connection) keeps what arrived, and the next copy of that snapshot
 * resumes there. A failed copy is reported to the leader (snapshotStatus
 * reject), which offers a snapshot again at once: the newest, if the one being
 * copied was replaced meanwhile.
 */
import type { SnapshotRequest, SnapshotStatusReport } from "../core/messages.js";
import type { NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import type { TransferProgress } from "../storage/snapshot-receiver.js";
import type { SnapshotStore } from "../storage/snapshot-store.js";
import { parsePeerId } from "../transport/peer-address.js";
import type { Transport } from "../transport/transport.js";
import { describeError } from "./fsm-caller.js";
import type { NodeLogger } from "./options.js";
import { copySnapshot } from "./snapshot-copier.js";
import { SnapshotThrottle } from "./snapshot-throttle.js";

export interface InstallerHost {
  readonly transport: Transport;
  readonly groupId: string;
  /** This node's snapshot store: it receives, resumes and publishes. */
  readonly store: SnapshotStore;
  /** Shared by the copies of the process; undefined copies at full speed. */
  readonly throttle: SnapshotThrottle | undefined;
  readonly logger: NodeLogger;
  /** The highest of the commit index and the local snapshot's index: a snapshot at or below it brings nothing new. */
  coveredIndex(): number;
  /** Steps the message into the core and runs the Ready loop. */
  step(message: SnapshotRequest): void;
  send(message: SnapshotStatusReport): void;
}

/** The latest install, in describe(). */
export interface SnapshotInstallStatus {
  readonly index: number;
  readonly leaderId: NodeId;
  /** "copied": handed to the core, which installs it through the Ready loop. */
  readonly state: "copying" | "copied" | "failed";
  readonly bytesDone: number;
  /** 0 until the leader's manifest arrived. */
  readonly bytesTotal: number;
  /** Bytes an earlier, interrupted copy of this snapshot had already made durable: this one resumed there. */
  readonly resumedAtBytes: number;
  readonly startedAtMs: number;
  readonly finishedAtMs: number | null;
  readonly error: string | null;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Copy {
  readonly index: number;
  readonly controller: AbortController;
  readonly status: Mutable<SnapshotInstallStatus>;
  /** Settles (never rejects) once the copy ended and released the store's receiver. */
  done: Promise<void>;
}

/** Process-wide throttles by rate: the copies of every node of the process share one cap, as SOFAJraft's. */
const throttles = new Map<number, SnapshotThrottle>();

/** The process's throttle for `bytesPerSec` (0: none). */
export function sharedThrottle(bytesPerSec: number): SnapshotThrottle | undefined {
  if (bytesPerSec === 0) return undefined;
  let throttle = throttles.get(bytesPerSec);
  if (throttle === undefined) throttles.set(bytesPerSec, (throttle = new SnapshotThrottle(bytesPerSec)));
  return throttle;
}

export class SnapshotInstaller {
  private copy: Copy | null = null;
  private latest: Copy | null = null;
  private stopped = false;

  constructor(private readonly host: InstallerHost) {}

  /** A snapshot message from the leader. */
  install(message: SnapshotRequest): void {
    if (this.stopped) return;
    const index = message.snapshot.index;
    if (index <= this.host.coveredIndex()) {
      this.host.step(message); // nothing to copy: the core answers with what we hold
      return;
    }
    const running = this.copy;
    let previous: Promise<void> = Promise.resolve();
    if (running !== null) {
      // The same snapshot offered again (or an older one): the copy in progress answers it.
      if (index <= running.index) return;
      running.controller.abort(new RaftError("EPERM", `the leader sent a newer snapshot, at index ${index}`));
      previous = running.done;
    }
    this.start(message, previous);
  }

  status(): SnapshotInstallStatus | null {
    return this.latest === null ? null : { ...this.latest.status };
  }

  /** At shutdown: stops the copy (what arrived is kept for the next start) and waits until it let go of the store. */
  stop(): Promise<void> {
    this.stopped = true;
    const running = this.copy;
    if (running === null) return Promise.resolve();
    running.controller.abort(new RaftError("ESHUTDOWN", "the node is shutting down"));
    return running.done;
  }

  private start(message: SnapshotRequest, previous: Promise<void>): void {
    const copy: Copy = {
      index: message.snapshot.index,
      controller: new AbortController(),
      status: { index: message.snapshot.index, leaderId: message.from, state: "copying", bytesDone: 0, bytesTotal: 0, resumedAtBytes: 0, startedAtMs: Date.now(), finishedAtMs: null, error: null },
      done: Promise.resolve(),
    };
    this.copy = copy;
    this.latest = copy;
    // The aborted copy it replaces must close its receiver first.
    copy.done = previous.then(() => this.run(copy, message));
  }

  private async run(copy: Copy, message: SnapshotRequest): Promise<void> {
    const { transport, groupId, store, throttle, logger } = this.host;
    const { status, controller } = copy;
    const what = `the snapshot at index ${copy.index} (term ${message.snapshot.term}) from the leader ${message.from}`;
    try {
      controller.signal.throwIfAborted();
      const leaderAddress = parsePeerId(message.from).address;
      logger.info?.(`copying ${what}`);
      await copySnapshot({
        transport,
        leaderAddress,
        groupId,
        index: copy.index,
        store,
        ...(throttle === undefined ? {} : { throttle }),
        signal: controller.signal,
        onProgress: (progress: TransferProgress) => {
          // The first report comes once the receive is open: what it holds then was resumed.
          if (status.bytesTotal === 0) status.resumedAtBytes = progress.bytesDone;
          status.bytesDone = progress.bytesDone;
          status.bytesTotal = progress.bytesTotal;
        },
      });
      this.finish(copy, "copied", null);
      const resumed = status.resumedAtBytes > 0 ? `, resumed at ${status.resumedAtBytes}` : "";
      logger.info?.(`copied ${what}: ${status.bytesTotal} bytes${resumed} in ${status.finishedAtMs! - status.startedAtMs} ms; installing it`);
      this.host.step(message);
    } catch (error) {
      if (controller.signal.aborted) {
        this.finish(copy, "failed", describeError(controller.signal.reason));
        logger.info?.(`stopped copying ${what} after ${status.bytesDone} of ${status.bytesTotal} bytes: ${describeError(controller.signal.reason)}`);
        return;
      }
      this.finish(copy, "failed", describeError(error));
      logger.warn(`copying ${what} failed after ${status.bytesDone} of ${status.bytesTotal} bytes; the leader is asked to offer a snapshot again: ${describeError(error)}`);
      this.host.send({ type: "snapshotStatus", from: message.to, to: message.from, term: message.term, index: copy.index, reject: true });
    }
  }

  private finish(copy: Copy, state: "copied" | "failed", error: string | null): void {
    copy.status.state = state;
    copy.status.error = error;
    copy.status.finishedAtMs = Date.now();
    if (this.copy === copy) this.copy = null;
  }
}
