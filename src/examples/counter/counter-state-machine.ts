/**
 * The replicated state: one number. Every replica applies the same deltas in
 * the same order, so every replica holds the same value at the same index.
 */
import { RaftError, type ApplyIterator, type FollowingContext, type LeaderStopStatus, type SnapshotReader, type SnapshotWriter, type StateMachine } from "../../index.js";
import { decodeDelta } from "./counter-protocol.js";

const SNAPSHOT_FILE = "value";
const VALUE_BYTES = 8;

export class CounterStateMachine implements StateMachine {
  private current = 0;

  /** `log` gets a line per role change, for the operator watching the servers. */
  constructor(private readonly log: (line: string) => void) {}

  /** The value as of the last applied entry; linearizable only after node.readIndex(). */
  get value(): number {
    return this.current;
  }

  onApply(iterator: ApplyIterator): void {
    for (; iterator.hasNext(); iterator.next()) {
      this.current += decodeDelta(iterator.data);
      iterator.done?.(this.current); // on the leader: incrementAndGet's answer
    }
  }

  async onSnapshotSave(writer: SnapshotWriter): Promise<void> {
    const bytes = new Uint8Array(VALUE_BYTES);
    new DataView(bytes.buffer).setFloat64(0, this.current);
    await writer.addFile(SNAPSHOT_FILE, bytes);
  }

  async onSnapshotLoad(reader: SnapshotReader): Promise<boolean> {
    const file = reader.manifest.files.find((entry) => entry.name === SNAPSHOT_FILE);
    if (file === undefined || file.sizeBytes !== VALUE_BYTES) {
      throw new RaftError("ECORRUPT", `the snapshot has no ${VALUE_BYTES}-byte "${SNAPSHOT_FILE}" file; it was not written by the counter`);
    }
    const bytes = await reader.read(SNAPSHOT_FILE, 0, VALUE_BYTES);
    this.current = new DataView(bytes.buffer, bytes.byteOffset, VALUE_BYTES).getFloat64(0);
    return true;
  }

  onLeaderStart(term: number): void {
    this.log(`became the leader in term ${term}`);
  }

  onLeaderStop(status: LeaderStopStatus): void {
    this.log(`stopped leading in term ${status.term}: ${status.reason}`);
  }

  onStartFollowing(context: FollowingContext): void {
    this.log(`following ${context.leaderId} in term ${context.term}`);
  }

  onStopFollowing(context: FollowingContext): void {
    this.log(`stopped following ${context.leaderId} (term ${context.term})`);
  }

  onError(error: RaftError): void {
    this.log(`entered the ERROR state: ${error.message}`);
  }
}
