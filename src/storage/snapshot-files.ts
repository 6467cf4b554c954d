/**
 * File-level helpers of the snapshot store: folder names, checksumming a file,
 * reading an exact byte range, checking a file against its manifest entry.
 */
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import { RaftError } from "../errors.js";
import type { SnapshotFileEntry } from "./snapshot-manifest.js";

/** Published snapshots: `snapshot_<index, 20 digits>` so that name order is index order. */
export const PUBLISHED_PREFIX = "snapshot_";
/** A follower's snapshot being received: kept across restarts so the transfer can resume. */
export const RECEIVING_PREFIX = "receiving_";
/** Work folders of local writers and folders being deleted: removed on open. */
export const TEMP_PREFIX = "tmp_";
const INDEX_DIGITS = 20;
const CHECKSUM_BUFFER_BYTES = 1024 * 1024;

export function snapshotFolderName(prefix: string, index: number): string {
  return `${prefix}${String(index).padStart(INDEX_DIGITS, "0")}`;
}

/** The index in a folder name made by snapshotFolderName, or null for other names. */
export function indexOfFolder(prefix: string, name: string): number | null {
  if (!name.startsWith(prefix)) return null;
  const digits = name.slice(prefix.length);
  if (digits.length !== INDEX_DIGITS || !/^\d+$/.test(digits)) return null;
  const index = Number(digits);
  return Number.isSafeInteger(index) ? index : null;
}

export interface FileDigest {
  readonly sizeBytes: number;
  readonly crc32c: number;
}

/** Size and CRC32C of a whole file, read in bounded chunks. */
export async function digestFile(path: string): Promise<FileDigest> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(CHECKSUM_BUFFER_BYTES);
    let crc = 0;
    let sizeBytes = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, sizeBytes);
      if (bytesRead === 0) return { sizeBytes, crc32c: crc };
      crc = crc32c(buffer.subarray(0, bytesRead), crc);
      sizeBytes += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Checks a file in `dir` against its manifest entry; ECORRUPT naming the file
 * when it is missing, of another size, or of another checksum.
 */
export async function verifyFile(dir: string, entry: SnapshotFileEntry, remedy: string): Promise<void> {
  const path = join(dir, entry.name);
  let digest: FileDigest;
  try {
    digest = await digestFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new RaftError("ECORRUPT", `${path}: listed in the snapshot manifest but missing. ${remedy}`);
  }
  if (digest.sizeBytes !== entry.sizeBytes) {
    throw new RaftError("ECORRUPT", `${path}: ${digest.sizeBytes} bytes, the snapshot manifest says ${entry.sizeBytes}. ${remedy}`);
  }
  if (digest.crc32c !== entry.crc32c) {
    throw new RaftError("ECORRUPT", `${path}: checksum ${digest.crc32c} does not match the snapshot manifest's ${entry.crc32c}. ${remedy}`);
  }
}

/** Reads exactly `lengthBytes` at `offset`; ECORRUPT if the file ends first (it is shorter than its manifest says). */
export async function readExactly(handle: FileHandle, offset: number, lengthBytes: number, path: string): Promise<Uint8Array> {
  const buffer = Buffer.alloc(lengthBytes);
  let done = 0;
  while (done < lengthBytes) {
    const { bytesRead } = await handle.read(buffer, done, lengthBytes - done, offset + done);
    if (bytesRead === 0) {
      throw new RaftError("ECORRUPT", `${path}: ends at byte ${offset + done}, before the size its snapshot manifest gives`);
    }
    done += bytesRead;
  }
  return buffer;
}
