/**
 * Durable file primitives shared by the storage layer.
 *
 * `writeFileAtomic` replaces a file so that a crash at any moment leaves either
 * the old content or the new, never a mix: write a temp file beside the target,
 * fsync it, rename it over the target (atomic on POSIX), fsync the folder so the
 * rename itself survives power loss. Leftover temp files are never read; owners
 * remove them on open with `removeTempFiles`.
 */
import { open, mkdir, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Data folders are private to the node's user. */
export const DATA_DIR_MODE = 0o700;
/** Data files are private to the node's user. */
export const DATA_FILE_MODE = 0o600;

const TEMP_SUFFIX = ".tmp";
let tempSequence = 0;

/** Creates `dir` (and missing parents) with DATA_DIR_MODE; an existing folder is fine. */
export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DATA_DIR_MODE });
}

/** Makes the folder's entries (creations, renames, removals) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a folder for fsync; NTFS journals metadata itself.
  if (process.platform === "win32") return;
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a file's data and size durable (the caller fsyncs its folder if the file is new). */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes the whole buffer at `position`, looping over short writes. */
export async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < data.byteLength) {
    const { bytesWritten } = await handle.write(data, written, data.byteLength - written, position + written);
    written += bytesWritten;
  }
}

/** Durably replaces `path` with `data` (old or new after a crash, never garbage). */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const tempPath = `${path}.${process.pid}-${tempSequence++}${TEMP_SUFFIX}`;
  try {
    const handle = await open(tempPath, "wx", DATA_FILE_MODE);
    try {
      await writeFully(handle, data, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tempPath, path);
  } catch (error) {
    await rm(tempPath, { force: true });
    throw error;
  }
  await fsyncDir(dirname(path));
}

/** True for a temp file `writeFileAtomic` would make for a target named `targetName`. */
export function isTempFileOf(fileName: string, targetName: string): boolean {
  return fileName.startsWith(`${targetName}.`) && fileName.endsWith(TEMP_SUFFIX);
}

/** Removes the temp files a crash left beside `targetPath`. */
export async function removeTempFiles(targetPath: string): Promise<void> {
  const dir = dirname(targetPath);
  const targetName = basename(targetPath);
  for (const name of await readdir(dir)) {
    if (isTempFileOf(name, targetName)) await rm(join(dir, name), { force: true });
  }
}
