/** Durability helpers. */
import fs from "node:fs";

/**
 * Where a log's fdatasync runs. "inline" blocks the event loop for the flush
 * (a fraction of a millisecond on an SSD) and saves two thread hops, which on
 * a busy or virtualized host cost as much as the flush itself. "thread-pool"
 * keeps the event loop serving the network however slow the disk is.
 */
export type FsyncMode = "inline" | "thread-pool" | "none";

/** A wait added before every flush of this process: a slow disk, injected by the nemesis (src/nemesis). */
let injectedSyncDelayMs = 0;

export function injectSyncDelay(delayMs: number): void {
  injectedSyncDelayMs = delayMs;
}

/** "none" never flushes: for tests and benchmarks only, a crash may lose acknowledged entries. */
export function fdatasyncFor(mode: FsyncMode): (fd: number) => Promise<void> {
  if (mode === "none") return async () => {};
  const flush: (fd: number) => Promise<void> =
    mode === "thread-pool" ? (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))) : async (fd) => fs.fdatasyncSync(fd);
  return async (fd) => {
    if (injectedSyncDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, injectedSyncDelayMs));
    await flush(fd);
  };
}

/** Writes all of `buf` at `position` (pwrite may write less than asked). */
export function writeFullySync(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
}
