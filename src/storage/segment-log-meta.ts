/**
 * The segment log's small meta file: the logical first index (moved by
 * truncatePrefix) and the generation (bumped by reset). Replaced atomically
 * (writeFileAtomic): a crash leaves the old or the new one.
 *
 *   magic u32 | version u32 | generation u64 | firstIndex u64 | crc32c u32 (over the 24 bytes before it)
 */
import fs from "node:fs";
import path from "node:path";
import { crc32c } from "@node-rs/crc32";
import { RaftError } from "../errors.js";
import { removeTempFiles, writeFileAtomic } from "./atomic-file.js";
import { readU53, writeU53 } from "./segment-format.js";

export const LOG_META_FILE = "log.meta";
const META_MAGIC = 0x4d4c5354; // "TSLM"
const META_VERSION = 1;
const META_BYTES = 28;

export interface LogMeta {
  readonly generation: number;
  readonly firstIndex: number;
}

export function metaPath(dir: string): string {
  return path.join(dir, LOG_META_FILE);
}

/** The meta file's contents, or null when there is none. Damage is ECORRUPT: the file is only ever replaced whole. */
export async function readLogMeta(dir: string): Promise<LogMeta | null> {
  const file = metaPath(dir);
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const problem = metaProblem(buf);
  if (problem !== null) {
    throw new RaftError(
      "ECORRUPT",
      `log meta file ${file} is damaged at byte offset 0: ${problem}. It is replaced atomically, so this is not a crash leftover; ` +
        `restore the folder ${dir} from a replica, or remove it so this node rejoins empty and catches up from the leader.`,
    );
  }
  return { generation: readU53(buf, 8), firstIndex: readU53(buf, 16) };
}

function metaProblem(buf: Buffer): string | null {
  if (buf.length !== META_BYTES) return `it is ${buf.length} bytes, expected ${META_BYTES}`;
  const magic = buf.readUInt32LE(0);
  if (magic !== META_MAGIC) return `wrong magic number 0x${magic.toString(16)}: not a tsraft log meta file`;
  if (buf.readUInt32LE(24) !== crc32c(buf.subarray(0, 24))) return "its checksum does not match";
  const version = buf.readUInt32LE(4);
  if (version !== META_VERSION) return `unknown format version ${version} (this tsraft reads version ${META_VERSION}); it was written by a newer tsraft`;
  if (readU53(buf, 8) < 0 || readU53(buf, 16) < 1) return "it holds a generation or first index out of range";
  return null;
}

export async function writeLogMeta(dir: string, meta: LogMeta): Promise<void> {
  const buf = Buffer.alloc(META_BYTES);
  buf.writeUInt32LE(META_MAGIC, 0);
  buf.writeUInt32LE(META_VERSION, 4);
  writeU53(buf, 8, meta.generation);
  writeU53(buf, 16, meta.firstIndex);
  buf.writeUInt32LE(crc32c(buf.subarray(0, 24)), 24);
  await writeFileAtomic(metaPath(dir), buf);
}

/** A temp file left by a crash before its rename never held the current meta. */
export async function removeMetaTemp(dir: string): Promise<void> {
  await removeTempFiles(metaPath(dir));
}
