/** Durability helpers. */
import fs from "node:fs";

/**
 * Where a log's fdatasync runs. "inline" blocks the event loop for the flush
 * (a fraction of a millisecond on an SSD) and saves two thread hops, which on
 * a busy or virtualized host cost as much as the flush itself. "thread-pool"
 * keeps the event loop serving the network however slow the disk is.
 */
export type FsyncMode = "inline" | "thread-pool" | "none";

/** "none" never flushes: for tests and benchmarks only, a crash may lose acknowledged entries. */
export function fdatasyncFor(mode: FsyncMode): (fd: number) => Promise<void> {
  if (mode === "thread-pool") return (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  if (mode === "none") return async () => {};
  return async (fd) => fs.fdatasyncSync(fd);
}

/** Writes all of `buf` at `position` (pwrite may write less than asked). */
export function writeFullySync(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
}
