/**
 * The follower's side of a snapshot install (§7): pulls the leader's snapshot
 * in chunks, as SOFAJraft's GetFile does, into the store's receiver, which
 * makes each chunk durable before it counts. So a broken connection, an
 * abort or a crash loses at most the chunk in flight: the next copySnapshot
 * of the same snapshot resumes from the receiver's resume point.
 *
 * Chunks are fetched in order, one ahead: the next chunk travels while this
 * one is written and fsync'd. Each request is retried on transient failures
 * (no connection, timeout, busy) with backoff; any other answer ends the copy.
 * Nothing is published before every file matches its size and CRC32C, so a
 * chunk damaged on the way is an ECORRUPT at the end, and the received data is
 * discarded (the receiver does that) for a fresh copy to start over.
 */
import { invariant } from "../core/assert.js";
import { RaftError, type RaftErrorCode } from "../errors.js";
import { decodeManifest, type SnapshotFileEntry, type SnapshotManifest } from "../storage/snapshot-manifest.js";
import { MAX_SNAPSHOT_READ_BYTES } from "../storage/snapshot-reader.js";
import type { ResumePoint, TransferProgress } from "../storage/snapshot-receiver.js";
import type { SnapshotRef, SnapshotStore } from "../storage/snapshot-store.js";
import { reconnectDelayMs } from "../transport/backoff.js";
import { plainMessage } from "../transport/protocol.js";
import type { Transport } from "../transport/transport.js";
import { delay, untilAborted } from "./abortable.js";
import { CHUNK_SERVICE, MANIFEST_SERVICE, encodeChunkRequest, encodeManifestRequest } from "./snapshot-copy-codec.js";
import type { SnapshotThrottle } from "./snapshot-throttle.js";

export { serveSnapshots, type SnapshotService, type SnapshotServiceOptions } from "./snapshot-service.js";
export { SnapshotThrottle } from "./snapshot-throttle.js";

/** As SOFAJraft's maxByteCountPerRpc. */
export const DEFAULT_CHUNK_BYTES = 128 * 1024;
/** Retries per request after its first attempt, as SOFAJraft. */
export const DEFAULT_COPY_RETRIES = 3;
export const DEFAULT_RETRY_DELAY_MS = 100;
/** Backoff doubles per retry up to this many times the first delay. */
const MAX_RETRY_DELAY_FACTOR = 16;
export const DEFAULT_COPY_REQUEST_TIMEOUT_MS = 5000;
/** Failures worth another attempt: the request may simply not have got through. */
const TRANSIENT_CODES: ReadonlySet<RaftErrorCode> = new Set(["EAGAIN", "ETIMEDOUT", "EBUSY"]);

export interface CopySnapshotOptions {
  readonly transport: Transport;
  /** `host:port` of the leader's transport. */
  readonly leaderAddress: string;
  readonly groupId: string;
  /** The index of the leader's snapshot to copy. */
  readonly index: number;
  /** The follower's store: it receives, resumes and publishes the snapshot. */
  readonly store: SnapshotStore;
  /** Bytes asked for per request. Default 128 KiB; at most the leader's maxChunkBytes. */
  readonly chunkBytes?: number;
  /** Shared by the copies it should cap together; none copies at full speed. */
  readonly throttle?: SnapshotThrottle;
  /** Retries per request on transient failures. Default 3. */
  readonly retries?: number;
  /** First retry delay; it doubles per retry (with jitter). Default 100 ms. */
  readonly retryDelayMs?: number;
  /** Per request. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Called once the receive is open (bytesDone > 0 when resuming) and after each chunk is durable. */
  readonly onProgress?: (progress: TransferProgress) => void;
  /** Stops the copy, keeping what arrived for the next call; the copy rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
}

type ResolvedCopyOptions = Required<Omit<CopySnapshotOptions, "throttle" | "onProgress" | "signal">> &
  Pick<CopySnapshotOptions, "throttle" | "onProgress" | "signal">;

/**
 * Copies the leader's snapshot at `options.index` into `options.store` and
 * publishes it. Errors are RaftErrors that name the group, index and leader,
 * with the code of the cause (ECORRUPT for a snapshot that failed its checks),
 * except an abort, which rejects with the signal's reason.
 */
export async function copySnapshot(options: CopySnapshotOptions): Promise<SnapshotRef> {
  const resolved = resolveCopyOptions(options);
  resolved.signal?.throwIfAborted();
  const copy = new SnapshotCopy(resolved);
  try {
    return await copy.run();
  } catch (error) {
    if (resolved.signal?.aborted) throw resolved.signal.reason;
    if (!(error instanceof RaftError)) throw error;
    throw new RaftError(error.code, `cannot copy the snapshot at index ${resolved.index} of group "${resolved.groupId}" from ${resolved.leaderAddress}: ${plainMessage(error)}`);
  } finally {
    copy.stop();
  }
}

class SnapshotCopy {
  /** Aborted when the caller aborts or the copy ends, so a chunk fetched ahead stops retrying. */
  private readonly stopped = new AbortController();

  constructor(private readonly options: ResolvedCopyOptions) {
    options.signal?.addEventListener("abort", () => this.stop(), { once: true, signal: this.stopped.signal });
  }

  stop(): void {
    this.stopped.abort(this.options.signal?.reason ?? new RaftError("ESHUTDOWN", "the snapshot copy has ended"));
  }

  async run(): Promise<SnapshotRef> {
    const manifest = await this.fetchManifest();
    const files = new Map(manifest.files.map((file) => [file.name, file]));
    const receiver = await this.options.store.beginReceive(manifest);
    try {
      this.options.onProgress?.(receiver.progress());
      let point = receiver.resumePoint();
      let ahead = point === null ? null : this.fetchChunk(point, files);
      while (point !== null) {
        const bytes = await ahead!;
        const next = pointAfter(manifest, point, bytes.byteLength);
        // Fetch the next chunk while this one is written and fsync'd.
        ahead = next === null ? null : this.fetchChunk(next, files);
        await receiver.write(point.fileName, point.offset, bytes);
        this.options.onProgress?.(receiver.progress());
        point = receiver.resumePoint();
        invariant(samePoint(point, next), () => `the receiver expects ${describePoint(point)} next, the copier fetched ${describePoint(next)}`);
      }
      return await receiver.publish();
    } finally {
      // Kept for the next call to resume; a no-op after publish, or after a failed check discarded it.
      await receiver.close();
    }
  }

  private async fetchManifest(): Promise<SnapshotManifest> {
    const { transport, leaderAddress, groupId, index, timeoutMs } = this.options;
    const payload = encodeManifestRequest({ groupId, index });
    const answer = await this.withRetries("the manifest", () => transport.request(leaderAddress, MANIFEST_SERVICE, payload, { timeoutMs }));
    const manifest = decodeManifest(answer, `the manifest from ${leaderAddress}`);
    if (manifest.meta.index !== index) {
      throw new RaftError("ECORRUPT", `the leader answered with the manifest of the snapshot at index ${manifest.meta.index}`);
    }
    return manifest;
  }

  /** The chunk at `point`, after the throttle lets it through; its rejection is handled even if nobody awaits it. */
  private fetchChunk(point: ResumePoint, files: ReadonlyMap<string, SnapshotFileEntry>): Promise<Uint8Array> {
    const { transport, leaderAddress, groupId, index, chunkBytes, timeoutMs, throttle } = this.options;
    const file = files.get(point.fileName);
    invariant(file !== undefined, () => `${point.fileName} is not in the manifest`);
    const lengthBytes = Math.min(chunkBytes, file.sizeBytes - point.offset);
    const payload = encodeChunkRequest({ groupId, index, fileName: point.fileName, offset: point.offset, lengthBytes });
    const what = `the chunk of ${point.fileName} at offset ${point.offset} (${lengthBytes} bytes)`;
    const chunk = (async () => {
      await throttle?.acquire(lengthBytes, this.stopped.signal);
      const bytes = await this.withRetries(what, () => transport.request(leaderAddress, CHUNK_SERVICE, payload, { timeoutMs }));
      if (bytes.byteLength !== lengthBytes) throw new RaftError("ECORRUPT", `the leader answered ${bytes.byteLength} bytes for ${what}`);
      return bytes;
    })();
    chunk.catch(() => {});
    return chunk;
  }

  private async withRetries(what: string, send: () => Promise<Buffer>): Promise<Buffer> {
    const { retries, retryDelayMs } = this.options;
    const backoff = { reconnectMinDelayMs: retryDelayMs, reconnectMaxDelayMs: retryDelayMs * MAX_RETRY_DELAY_FACTOR };
    for (let attempt = 1; ; attempt++) {
      try {
        return await untilAborted(send(), this.stopped.signal);
      } catch (error) {
        if (this.stopped.signal.aborted) throw error;
        if (!(error instanceof RaftError) || !TRANSIENT_CODES.has(error.code)) throw error;
        if (attempt > retries) {
          throw new RaftError(error.code, `${what} failed ${attempt} times (1 attempt and ${retries} retries); the last failure: ${plainMessage(error)}`);
        }
        await delay(reconnectDelayMs(attempt, backoff), this.stopped.signal);
      }
    }
  }
}

/** Where the receiver's resume point moves after `lengthBytes` at `point`: empty files have no chunk and are skipped. */
function pointAfter(manifest: SnapshotManifest, point: ResumePoint, lengthBytes: number): ResumePoint | null {
  const files = manifest.files;
  let fileIndex = files.findIndex((file) => file.name === point.fileName);
  const offset = point.offset + lengthBytes;
  if (offset < files[fileIndex]!.sizeBytes) return { fileName: point.fileName, offset };
  do fileIndex++;
  while (fileIndex < files.length && files[fileIndex]!.sizeBytes === 0);
  return fileIndex < files.length ? { fileName: files[fileIndex]!.name, offset: 0 } : null;
}

function samePoint(a: ResumePoint | null, b: ResumePoint | null): boolean {
  return a === null || b === null ? a === b : a.fileName === b.fileName && a.offset === b.offset;
}

function describePoint(point: ResumePoint | null): string {
  return point === null ? "nothing" : `${point.fileName} at offset ${point.offset}`;
}

function resolveCopyOptions(options: CopySnapshotOptions): ResolvedCopyOptions {
  const resolved: ResolvedCopyOptions = {
    ...options,
    chunkBytes: options.chunkBytes ?? DEFAULT_CHUNK_BYTES,
    retries: options.retries ?? DEFAULT_COPY_RETRIES,
    retryDelayMs: options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
    timeoutMs: options.timeoutMs ?? DEFAULT_COPY_REQUEST_TIMEOUT_MS,
  };
  const { transport, leaderAddress, groupId, index, store } = resolved;
  if (typeof transport?.request !== "function") throw new RaftError("EINVAL", "copySnapshot needs a transport");
  if (typeof store?.beginReceive !== "function") throw new RaftError("EINVAL", "copySnapshot needs the follower's SnapshotStore as store");
  if (typeof leaderAddress !== "string" || leaderAddress.length === 0) throw new RaftError("EINVAL", "copySnapshot needs leaderAddress, the leader's host:port");
  if (typeof groupId !== "string" || groupId.length === 0) throw new RaftError("EINVAL", "copySnapshot needs a groupId");
  integerIn(index, "index", 1, Number.MAX_SAFE_INTEGER);
  // A chunk is held in memory on both sides; the leader refuses reads above this bound.
  integerIn(resolved.chunkBytes, "chunkBytes", 1, MAX_SNAPSHOT_READ_BYTES);
  integerIn(resolved.retries, "retries", 0, 100);
  integerIn(resolved.retryDelayMs, "retryDelayMs", 1, 60_000);
  integerIn(resolved.timeoutMs, "timeoutMs", 1, 2 ** 31 - 1);
  return resolved;
}

function integerIn(value: number, what: string, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RaftError("EINVAL", `copySnapshot option ${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
}
