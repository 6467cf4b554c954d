/**
 * The KV state machine's snapshot: one file of checksummed frames
 * (snapshot-frames.ts) holding records, in this order:
 *
 *   header    magic "TSKV", format version, store time, last fencing token
 *   data      key, value               (keys ascending)
 *   sequence  key, value               (keys ascending)
 *   lock      key, owner, token, expiresAtMs (keys ascending)
 *   session   clientId, lastWriteMs, forgottenBelowSeq, result count,
 *             then that many result records: seq, result
 *             (sessions least recently written first)
 *   end       the count of each kind, so a lost tail is noticed
 *
 * The applied index is the snapshot's own (its manifest's meta).
 */
import { join } from "node:path";
import { RaftError } from "../errors.js";
import type { SnapshotReader } from "../storage/snapshot-reader.js";
import { BinaryReader } from "../transport/binary.js";
import { MAX_KEY_BYTES, MAX_LOCK_OWNER_BYTES, MAX_VALUE_BYTES, type WriteResult } from "./commands.js";
import { readWriteResult, writeWriteResult } from "./kv-result-codec.js";
import { compareKeys, KeyTree, ownedBytes, storedValue, valueBytes } from "./kv-key-tree.js";
import type { LockRecord } from "./kv-lock-table.js";
import { KvStore } from "./kv-store.js";
import { MAX_CLIENT_ID_BYTES } from "./kv-validation.js";
import { ClientSessions, type SessionOptions } from "./sessions.js";
import { FrameFileWriter, readFrames } from "./snapshot-frames.js";

export const KV_SNAPSHOT_FILE = "kv-state";
const MAGIC = 0x54534b56; // "TSKV"
const FORMAT_VERSION = 1;

const Record = { header: 1, data: 2, sequence: 3, lock: 4, session: 5, result: 6, end: 7 } as const;

export interface KvSnapshotContents {
  /** The store time (monotonic). */
  readonly timeMs: number;
  readonly store: KvStore;
  readonly sessions: ClientSessions;
}

/** Writes the file into `dir` (the snapshot writer's folder). Nothing may change the contents meanwhile. */
export async function writeKvSnapshot(dir: string, contents: KvSnapshotContents): Promise<void> {
  const out = await FrameFileWriter.create(join(dir, KV_SNAPSHOT_FILE));
  try {
    await writeRecords(out, contents);
  } catch (error) {
    await out.abandon(); // the snapshot writer removes the unpublished folder
    throw error;
  }
  await out.close();
}

async function writeRecords(out: FrameFileWriter, contents: KvSnapshotContents): Promise<void> {
  const { store, sessions } = contents;
  const records = (): FrameFileWriter["records"] => out.records;
  const endRecord = async (): Promise<void> => {
    if (out.endRecord()) await out.flush();
  };
  records().u8(Record.header);
  records().u32(MAGIC);
  records().u8(FORMAT_VERSION);
  records().u53(contents.timeMs);
  records().u53(store.lastFencingToken);
  await endRecord();
  for (const [key, value] of store.dataEntries()) {
    records().u8(Record.data);
    records().bytes(key);
    records().bytes(valueBytes(value));
    await endRecord();
  }
  for (const [key, value] of store.sequenceEntries()) {
    records().u8(Record.sequence);
    records().bytes(key);
    records().u53(value);
    await endRecord();
  }
  for (const [key, lock] of store.lockEntries()) {
    records().u8(Record.lock);
    records().bytes(key);
    records().string(lock.owner);
    records().u53(lock.token);
    records().u53(lock.expiresAtMs);
    await endRecord();
  }
  let resultCount = 0;
  for (const session of sessions.snapshots()) {
    records().u8(Record.session);
    records().string(session.clientId);
    records().u53(session.lastWriteMs);
    records().u53(session.forgottenBelowSeq);
    records().u32(session.results.length);
    await endRecord();
    for (const [seq, result] of session.results) {
      records().u8(Record.result);
      records().u53(seq);
      writeWriteResult(records(), result);
      await endRecord();
    }
    resultCount += session.results.length;
  }
  records().u8(Record.end);
  for (const count of [store.keyCount, store.sequenceCount, store.lockCount, sessions.size, resultCount]) records().u53(count);
  out.endRecord();
}

/** Reads the file into a new store and sessions; ECORRUPT naming what is wrong. */
export async function readKvSnapshot(reader: SnapshotReader, sessionOptions: SessionOptions): Promise<KvSnapshotContents> {
  const builder = new ContentsBuilder(sessionOptions, `${KV_SNAPSHOT_FILE} of the snapshot at index ${reader.manifest.meta.index}`);
  let frameNumber = 0;
  for await (const frame of readFrames(reader, KV_SNAPSHOT_FILE)) {
    const records = new BinaryReader(frame.records, `frame ${frameNumber++} of ${builder.what}`);
    for (let i = 0; i < frame.recordCount; i++) builder.read(records);
    records.end();
  }
  return builder.finish();
}

/** Takes the records one at a time, checking their order and bounds. */
class ContentsBuilder {
  private previousTag = 0;
  private header: { timeMs: number; fencingCounter: number } | null = null;
  private readonly data = new KeyTree<string>();
  private readonly sequences = new KeyTree<number>();
  private readonly locks = new KeyTree<LockRecord>();
  private readonly sessions: ClientSessions;
  private session: { clientId: string; lastWriteMs: number; forgottenBelowSeq: number; results: [number, WriteResult][]; expected: number } | null = null;
  private sessionCount = 0;
  private resultCount = 0;
  private previousKey: Buffer | null = null;
  private ended = false;

  constructor(
    sessionOptions: SessionOptions,
    readonly what: string,
  ) {
    this.sessions = new ClientSessions(sessionOptions);
  }

  read(records: BinaryReader): void {
    if (this.ended) this.fail("records follow the end record");
    const tag = records.u8();
    this.checkOrder(tag);
    switch (tag) {
      case Record.header: {
        if (records.u32() !== MAGIC) this.fail("it does not start with the KV snapshot's magic number; it was not written by the KV state machine");
        const version = records.u8();
        if (version !== FORMAT_VERSION) this.fail(`its format version ${version} is unknown (this build reads version ${FORMAT_VERSION})`);
        this.header = { timeMs: records.u53(), fencingCounter: records.u53() };
        return;
      }
      case Record.data:
        this.data.set(this.key(records), storedValue(this.bytes(records, "value", MAX_VALUE_BYTES)));
        return;
      case Record.sequence:
        this.sequences.set(this.key(records), records.u53());
        return;
      case Record.lock: {
        const key = this.key(records);
        this.locks.set(key, { owner: this.string(records, "lock owner", MAX_LOCK_OWNER_BYTES), token: records.u53(), expiresAtMs: records.u53() });
        return;
      }
      case Record.session:
        this.session = {
          clientId: this.string(records, "client id", MAX_CLIENT_ID_BYTES),
          lastWriteMs: records.u53(),
          forgottenBelowSeq: records.u53(),
          results: [],
          expected: records.u32(),
        };
        this.endSessionIfComplete();
        return;
      case Record.result: {
        const session = this.session;
        if (session === null) return this.fail("a session result comes without its session");
        session.results.push([records.u53(), ownedResult(readWriteResult(records, this.what))]);
        this.endSessionIfComplete();
        return;
      }
      case Record.end: {
        const counts = [records.u53(), records.u53(), records.u53(), records.u53(), records.u53()];
        const actual = [this.data.size, this.sequences.size, this.locks.size, this.sessionCount, this.resultCount];
        if (counts.some((count, i) => count !== actual[i])) {
          this.fail(`its end record counts ${counts.join("/")} keys/sequences/locks/sessions/results but it holds ${actual.join("/")}`);
        }
        this.ended = true;
        return;
      }
      default:
        this.fail(`unknown record type ${tag}`);
    }
  }

  finish(): KvSnapshotContents {
    if (!this.ended || this.header === null) this.fail("it ends before its end record");
    const store = new KvStore({ data: this.data, sequences: this.sequences, locks: this.locks, fencingCounter: this.header.fencingCounter });
    return { timeMs: this.header.timeMs, store, sessions: this.sessions };
  }

  /** Records come in the order of their kinds; results only inside a session; keys ascend within a kind. */
  private checkOrder(tag: number): void {
    if ((this.previousTag === 0) !== (tag === Record.header)) this.fail("it must start with its one header record");
    const inSession = this.session !== null;
    if (inSession !== (tag === Record.result)) this.fail(inSession ? "a session has fewer results than it says" : "a session result comes without its session");
    if (tag < this.previousTag && !(tag === Record.session && this.previousTag === Record.result)) {
      this.fail(`a record of type ${tag} comes after one of type ${this.previousTag}`);
    }
    if (tag !== this.previousTag) this.previousKey = null;
    this.previousTag = tag;
  }

  private endSessionIfComplete(): void {
    const session = this.session;
    if (session === null || session.results.length < session.expected) return;
    this.sessions.restore(session);
    this.sessionCount++;
    this.resultCount += session.results.length;
    this.session = null;
  }

  private key(records: BinaryReader): Buffer {
    const key = ownedBytes(this.bytes(records, "key", MAX_KEY_BYTES));
    if (this.previousKey !== null && compareKeys(this.previousKey, key) >= 0) this.fail("its keys are not in ascending order");
    this.previousKey = key;
    return key;
  }

  /** A view into the frame, checked: the caller copies what it keeps (the frame's buffer is not kept). */
  private bytes(records: BinaryReader, what: string, maxBytes: number): Buffer {
    const value = records.bytes();
    if (value.length > maxBytes) this.fail(`a ${what} of ${value.length} bytes is above ${maxBytes}`);
    return value;
  }

  private string(records: BinaryReader, what: string, maxBytes: number): string {
    const value = records.string();
    const bytes = Buffer.byteLength(value);
    if (bytes === 0 || bytes > maxBytes) this.fail(`a ${what} of ${bytes} bytes (must be 1 to ${maxBytes})`);
    return value;
  }

  private fail(problem: string): never {
    throw new RaftError("ECORRUPT", `${this.what}: ${problem}`);
  }
}

/** Remembered results outlive the frame they were read from. */
function ownedResult(result: WriteResult): WriteResult {
  return result.type === "value" && result.value !== null ? { type: "value", value: ownedBytes(result.value) } : result;
}
