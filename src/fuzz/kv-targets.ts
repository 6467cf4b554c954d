/**
 * The KV store's decoders: a client's request (EINVAL), a server's response
 * and a log entry's write batch (ECORRUPT), and the state machine's snapshot
 * file read back from disk (ECORRUPT), damaged both as raw bytes (its frame
 * checksums catch that) and inside checksummed frames (the record checks must).
 */
import { crc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeKvRequest, decodeKvResponse, decodeWriteBatch, encodeKvRequest, encodeKvResponse, encodeWriteBatch } from "../kv/kv-codec.js";
import { KeyTree, storedValue, valueBytes } from "../kv/kv-key-tree.js";
import type { LockRecord } from "../kv/kv-lock-table.js";
import { KV_SNAPSHOT_FILE, readKvSnapshot, writeKvSnapshot, type KvSnapshotContents } from "../kv/kv-snapshot.js";
import { KvStore } from "../kv/kv-store.js";
import { ClientSessions, type SessionSnapshot } from "../kv/sessions.js";
import { SnapshotReader } from "../storage/snapshot-reader.js";
import { asBuffer, asyncCodecTarget, byteCodecTarget, type FuzzTarget } from "./fuzz-target.js";
import { kvRequest, kvResponse, writeBatch, writeCall } from "./kv-arbitraries.js";
import { byteMutator, randomBytes, resealingMutator } from "./mutations.js";

export function kvRequestTarget(): FuzzTarget {
  return byteCodecTarget({
    name: "kv request",
    valid: kvRequest(),
    encode: (request) => asBuffer(encodeKvRequest(request)),
    decode: decodeKvRequest,
    codes: ["EINVAL"],
  });
}

export function kvResponseTarget(): FuzzTarget {
  return byteCodecTarget({
    name: "kv response",
    valid: kvResponse,
    encode: (response) => asBuffer(encodeKvResponse(response)),
    decode: decodeKvResponse,
    codes: ["ECORRUPT"],
  });
}

export function writeBatchTarget(): FuzzTarget {
  return byteCodecTarget({
    name: "kv write batch",
    valid: writeBatch,
    encode: (batch) => asBuffer(encodeWriteBatch(batch)),
    decode: decodeWriteBatch,
    codes: ["ECORRUPT"],
  });
}

/** A snapshot's contents as plain data, in the order the store iterates them. */
interface PlainSnapshot {
  readonly timeMs: number;
  readonly lastFencingToken: number;
  readonly data: readonly (readonly [Uint8Array, Uint8Array])[];
  readonly sequences: readonly (readonly [Uint8Array, number])[];
  readonly locks: readonly (readonly [Uint8Array, LockRecord])[];
  readonly sessions: readonly SessionSnapshot[];
}

/** Contents as the state machine makes them: writes of a few clients applied to an empty store. */
const plainSnapshot: fc.Arbitrary<PlainSnapshot> = fc
  .tuple(
    fc.nat({ max: 2 ** 40 }),
    fc.array(fc.tuple(writeCall, fc.constantFrom("a", "b", "c"), fc.nat({ max: 60_000 })), { maxLength: 10 }),
  )
  .map(([startMs, writes]) => {
    const store = new KvStore();
    const sessions = new ClientSessions();
    let timeMs = startMs;
    for (const [call, clientId, stepMs] of writes) {
      timeMs += stepMs;
      sessions.apply({ ...call, clientId }, timeMs, (op) => store.applyWrite(op, timeMs).result);
    }
    return plainOf({ timeMs, store, sessions });
  });

function plainOf(contents: KvSnapshotContents): PlainSnapshot {
  const { store, sessions } = contents;
  return {
    timeMs: contents.timeMs,
    lastFencingToken: store.lastFencingToken,
    data: [...store.dataEntries()].map(([key, value]) => [key, valueBytes(value)] as const),
    sequences: [...store.sequenceEntries()],
    locks: [...store.lockEntries()],
    sessions: [...sessions.snapshots()],
  };
}

function contentsOf(plain: PlainSnapshot): KvSnapshotContents {
  const tree = <V>(entries: readonly (readonly [Uint8Array, V])[]): KeyTree<V> => {
    const keyTree = new KeyTree<V>();
    for (const [key, value] of entries) keyTree.set(key, value);
    return keyTree;
  };
  const store = new KvStore({ data: tree(plain.data.map(([key, value]) => [key, storedValue(value)])), sequences: tree(plain.sequences), locks: tree(plain.locks), fencingCounter: plain.lastFencingToken });
  const sessions = new ClientSessions();
  for (const session of plain.sessions) sessions.restore(session);
  return { timeMs: plain.timeMs, store, sessions };
}

const FRAME_HEADER_BYTES = 8;

/**
 * Raw damage to the file, or damage to its records put back into one frame
 * with a matching checksum: what a bug in the writer (or a bad disk beneath a
 * lucky checksum) would leave, and only the record checks stand against.
 */
const snapshotMutator = resealingMutator(byteMutator, frameBodyOf, (_file, body) => frameOf(body));

/** The records of every frame of a well-formed file as one frame body (u32 record count, records). */
function frameBodyOf(file: Buffer): Buffer {
  const records: Buffer[] = [];
  let recordCount = 0;
  for (let offset = 0; offset < file.length; ) {
    const bodyBytes = file.readUInt32BE(offset);
    const body = file.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + bodyBytes);
    recordCount += body.readUInt32BE(0);
    records.push(body.subarray(4));
    offset += FRAME_HEADER_BYTES + bodyBytes;
  }
  const count = Buffer.alloc(4);
  count.writeUInt32BE(recordCount);
  return Buffer.concat([count, ...records]);
}

function frameOf(body: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32BE(body.length, 0);
  header.writeUInt32BE(crc32c(body), 4);
  return Buffer.concat([header, body]);
}

export function kvSnapshotTarget(): FuzzTarget {
  let root = "";
  let folders = 0;
  const meta = { index: 1, term: 1, conf: { voters: ["a"], outgoing: [], learners: [] } };
  /** A folder of its own for each file: a run cut off at the end of its turn may still be writing its own. */
  const withFolder = async <T>(use: (dir: string) => Promise<T>): Promise<T> => {
    const dir = join(root, String(folders++));
    await mkdir(dir);
    try {
      return await use(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  return asyncCodecTarget<PlainSnapshot, Buffer>({
    name: "kv snapshot",
    valid: plainSnapshot,
    encode: (plain) =>
      withFolder(async (dir) => {
        await writeKvSnapshot(dir, contentsOf(plain));
        return readFile(join(dir, KV_SNAPSHOT_FILE));
      }),
    decode: (file) =>
      withFolder(async (dir) => {
        await writeFile(join(dir, KV_SNAPSHOT_FILE), file);
        const manifest = { meta, files: [{ name: KV_SNAPSHOT_FILE, sizeBytes: file.length, crc32c: crc32c(file) }] };
        return plainOf(await readKvSnapshot(new SnapshotReader({ meta, dir, manifest }, async () => {}), {}));
      }),
    codes: ["ECORRUPT"],
    mutator: snapshotMutator,
    random: fc.oneof(randomBytes(), randomBytes(256).map(frameOf)),
    async open() {
      root = await mkdtemp(join(tmpdir(), "tsraft-fuzz-kv-snapshot-"));
    },
    async close() {
      await rm(root, { recursive: true, force: true });
    },
  });
}
