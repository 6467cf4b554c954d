/**
 * The leader's side of a snapshot copy: answers followers' requests for the
 * manifest and for byte ranges of a group's newest published snapshot.
 *
 * A reader stays open between the requests of a transfer (so the snapshot is
 * not pruned under it) and is closed once idle for `idleReaderTimeoutMs`,
 * so a follower that went away never pins an old snapshot for good. Only the
 * newest snapshot is served: once a newer one is published, requests for the
 * old one are refused (EPERM) and its reader is closed, letting retention
 * remove it; the follower gives that index up and the leader sends the new one.
 */
import { RaftError } from "../errors.js";
import { encodeManifest } from "../storage/snapshot-manifest.js";
import { MAX_SNAPSHOT_READ_BYTES, type SnapshotReader } from "../storage/snapshot-reader.js";
import type { SnapshotStore } from "../storage/snapshot-store.js";
import type { Transport } from "../transport/transport.js";
import { CHUNK_SERVICE, MANIFEST_SERVICE, decodeChunkRequest, decodeManifestRequest } from "./snapshot-copy-codec.js";

export const DEFAULT_MAX_CHUNK_BYTES = 1024 * 1024;
export const DEFAULT_IDLE_READER_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_OPEN_READERS = 256;

export interface SnapshotServiceOptions {
  /** The snapshot store of a group this process leads or follows; undefined for groups it does not serve. */
  readonly resolveStore: (groupId: string) => SnapshotStore | undefined;
  /** Largest range one request may ask for. Default 1 MiB; it must fit the transport's maxFrameBytes. */
  readonly maxChunkBytes?: number;
  /** A reader no request used for this long is closed. Default 30,000 ms. */
  readonly idleReaderTimeoutMs?: number;
  /** Snapshots (group and index) open for transfers at once; more are answered EBUSY. Default 256. */
  readonly maxOpenReaders?: number;
  /**
   * Called after each manifest or chunk served, with the group and the requester's address (`host:port`),
   * so a leader can tell a copy that progresses from one that stalled.
   */
  readonly onServed?: (groupId: string, requesterAddress: string) => void;
}

export interface SnapshotService {
  /** Readers open now, for describe() and tests. */
  openReaders(): number;
  /** Closes every reader; later requests are answered ESHUTDOWN. */
  close(): Promise<void>;
}

/** One open snapshot; `inFlight` requests are using it, and it is closed only when none is. */
interface OpenSnapshot {
  readonly key: string;
  readonly reader: Promise<SnapshotReader>;
  inFlight: number;
  idleTimer: NodeJS.Timeout | null;
  retired: boolean;
}

/** Registers the manifest and chunk services on `transport`. Call once per transport. */
export function serveSnapshots(transport: Transport, options: SnapshotServiceOptions): SnapshotService {
  const server = new SnapshotServer(options);
  const served = (groupId: string, from: string): void => options.onServed?.(groupId, from);
  transport.handle(MANIFEST_SERVICE, async (payload, from) => {
    const { groupId, index } = decodeManifestRequest(payload);
    const manifest = await server.withReader(groupId, index, async (reader) => encodeManifest(reader.manifest));
    served(groupId, from);
    return manifest;
  });
  transport.handle(CHUNK_SERVICE, async (payload, from) => {
    const { groupId, index, fileName, offset, lengthBytes } = decodeChunkRequest(payload);
    server.checkChunkLength(lengthBytes);
    const chunk = await server.withReader(groupId, index, (reader) => reader.read(fileName, offset, lengthBytes));
    served(groupId, from);
    return chunk;
  });
  return server;
}

class SnapshotServer implements SnapshotService {
  private readonly resolveStore: (groupId: string) => SnapshotStore | undefined;
  private readonly maxChunkBytes: number;
  private readonly idleReaderTimeoutMs: number;
  private readonly maxOpenReaders: number;
  private readonly open = new Map<string, OpenSnapshot>();
  private closed = false;

  constructor(options: SnapshotServiceOptions) {
    if (typeof options.resolveStore !== "function") throw new RaftError("EINVAL", "serveSnapshots needs resolveStore(groupId), a function");
    this.resolveStore = options.resolveStore;
    this.maxChunkBytes = options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES;
    this.idleReaderTimeoutMs = options.idleReaderTimeoutMs ?? DEFAULT_IDLE_READER_TIMEOUT_MS;
    this.maxOpenReaders = options.maxOpenReaders ?? DEFAULT_MAX_OPEN_READERS;
    atLeastOne(this.maxChunkBytes, "maxChunkBytes", MAX_SNAPSHOT_READ_BYTES);
    atLeastOne(this.idleReaderTimeoutMs, "idleReaderTimeoutMs", 2 ** 31 - 1);
    atLeastOne(this.maxOpenReaders, "maxOpenReaders", Number.MAX_SAFE_INTEGER);
  }

  openReaders(): number {
    return this.open.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.open.values()].map((snapshot) => this.retire(snapshot)));
  }

  checkChunkLength(lengthBytes: number): void {
    if (lengthBytes > this.maxChunkBytes) {
      throw new RaftError("EINVAL", `a snapshot chunk of ${lengthBytes} bytes was asked for; this leader serves at most ${this.maxChunkBytes} bytes a request`);
    }
  }

  /** Runs `use` on the reader of the group's snapshot at `index`, which must be the newest one. */
  async withReader<T>(groupId: string, index: number, use: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    if (this.closed) throw new RaftError("ESHUTDOWN", "this process no longer serves snapshots");
    const store = this.resolveStore(groupId);
    if (store === undefined) throw new RaftError("EINVAL", `group "${groupId}" is not served by this process; no snapshot of it can be copied from here`);
    const key = JSON.stringify([groupId, index]);
    await this.checkNewest(store, groupId, index, key);
    const snapshot = this.acquire(store, index, key);
    try {
      return await use(await snapshot.reader);
    } finally {
      await this.release(snapshot);
    }
  }

  /** Only the newest snapshot is served; an older one's reader is closed so retention can remove it. */
  private async checkNewest(store: SnapshotStore, groupId: string, index: number, key: string): Promise<void> {
    const newest = (await store.publishedIndexes()).at(-1);
    if (newest === index) return;
    const stale = this.open.get(key);
    if (stale !== undefined) await this.retire(stale);
    if (newest === undefined) throw new RaftError("EINVAL", `group "${groupId}" has no published snapshot here; asked for index ${index}`);
    if (index > newest) throw new RaftError("EINVAL", `group "${groupId}" has no snapshot at index ${index} here; its newest is at index ${newest}`);
    throw new RaftError(
      "EPERM",
      `the snapshot of group "${groupId}" at index ${index} is no longer served: a newer one at index ${newest} replaced it; give index ${index} up, the leader sends the newer one`,
    );
  }

  private acquire(store: SnapshotStore, index: number, key: string): OpenSnapshot {
    let snapshot = this.open.get(key);
    if (snapshot === undefined) {
      if (this.open.size >= this.maxOpenReaders) {
        throw new RaftError("EBUSY", `${this.open.size} snapshots are being sent already (maxOpenReaders); retry later`);
      }
      const reader = store.openReader(index);
      snapshot = { key, reader, inFlight: 0, idleTimer: null, retired: false };
      this.open.set(key, snapshot);
      // A reader that failed to open is forgotten at once, so the next request tries again.
      const opening = snapshot;
      reader.catch(() => {
        opening.retired = true;
        if (this.open.get(key) === opening) this.open.delete(key);
      });
    }
    if (snapshot.idleTimer !== null) clearTimeout(snapshot.idleTimer);
    snapshot.idleTimer = null;
    snapshot.inFlight++;
    return snapshot;
  }

  private async release(snapshot: OpenSnapshot): Promise<void> {
    snapshot.inFlight--;
    if (snapshot.inFlight > 0) return;
    if (snapshot.retired) {
      await closeReader(snapshot);
    } else {
      // A failure to prune after the close is not this request's; the store's next publish prunes again.
      snapshot.idleTimer = setTimeout(() => this.retire(snapshot).catch(() => {}), this.idleReaderTimeoutMs);
      // An idle reader must not keep the process alive.
      snapshot.idleTimer.unref();
    }
  }

  /** Forgets the snapshot; its reader closes now, or when the last request using it ends. */
  private async retire(snapshot: OpenSnapshot): Promise<void> {
    if (snapshot.idleTimer !== null) clearTimeout(snapshot.idleTimer);
    snapshot.idleTimer = null;
    if (this.open.get(snapshot.key) === snapshot) this.open.delete(snapshot.key);
    if (snapshot.retired) return;
    snapshot.retired = true;
    if (snapshot.inFlight === 0) await closeReader(snapshot);
  }
}

/** A reader that never opened has nothing to close. */
async function closeReader(snapshot: OpenSnapshot): Promise<void> {
  const reader = await snapshot.reader.catch(() => null);
  await reader?.close();
}

function atLeastOne(value: number, what: string, max: number): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RaftError("EINVAL", `${what} must be an integer from 1 to ${max}, got ${value}`);
  }
}
