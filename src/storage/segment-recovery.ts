/**
 * Opening a segment log: read the meta file, verify every segment's header and
 * every record's checksum, and rebuild the in-memory index.
 *
 * Zeros after a segment's last record are its end (preallocated space, see
 * segment-files.ts). What a crash can leave is repaired, with a warning: a
 * torn or truncated tail of the last segment is cut; segments of an older
 * generation (an interrupted reset) or wholly before the first index (an
 * interrupted truncatePrefix) are deleted. Anything else is damage: ECORRUPT
 * naming the file and the byte offset, and nothing is touched. Repairs start
 * only once the whole log has been verified.
 */
import fs from "node:fs";
import path from "node:path";
import { RaftError } from "../errors.js";
import { ensureDir, fsyncDir } from "./atomic-file.js";
import { Segment } from "./segment.js";
import { SEGMENT_HEADER_BYTES, checkRecord, decodeSegmentHeader, isAllZero, newRecordCheck, parseSegmentFileName, readU53, RECORD_OVERHEAD_BYTES } from "./segment-format.js";
import { metaPath, readLogMeta, removeMetaTemp, writeLogMeta, type LogMeta } from "./segment-log-meta.js";

export interface RecoveredLog {
  readonly meta: LogMeta;
  /** Verified segments of the current generation, in order; the last one's file is open. */
  readonly segments: Segment[];
}

type Warn = (message: string) => void;

interface Repairs {
  /** Files to delete, each with the reason given in the warning. */
  deletions: { file: string; why: string }[];
  tailCut: { file: string; offset: number; message: string } | null;
}

const REMEDY = "Restore the data folder from a replica, or remove it so this node rejoins empty and catches up from the leader.";

export function corrupt(file: string, offset: number, problem: string): RaftError {
  return new RaftError("ECORRUPT", `log file ${file} is damaged at byte offset ${offset}: ${problem}. ${REMEDY}`);
}

export async function recoverLog(dir: string, warn: Warn): Promise<RecoveredLog> {
  await ensureDir(dir);
  const files = (await fs.promises.readdir(dir))
    .map((name) => ({ name, firstIndex: parseSegmentFileName(name) }))
    .filter((f): f is { name: string; firstIndex: number } => f.firstIndex !== null)
    .sort((a, b) => a.firstIndex - b.firstIndex);
  const meta = await readLogMeta(dir);
  if (meta === null) {
    if (files.length > 0) {
      throw new RaftError("ECORRUPT", `log meta file ${metaPath(dir)} is missing but ${files.length} segment file(s) exist (the first is ${path.join(dir, files[0]!.name)}). ${REMEDY}`);
    }
    const fresh = { generation: 0, firstIndex: 1 };
    await writeLogMeta(dir, fresh);
    return { meta: fresh, segments: [] };
  }

  const repairs: Repairs = { deletions: [], tailCut: null };
  const current: Segment[] = [];
  const fds: number[] = [];
  try {
    for (let i = 0; i < files.length; i++) {
      const file = path.join(dir, files[i]!.name);
      const isLastFile = i === files.length - 1;
      const fd = fs.openSync(file, "r+");
      fds.push(fd);
      const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
      const headBytes = fs.readSync(fd, head, 0, SEGMENT_HEADER_BYTES, 0);
      const check = decodeSegmentHeader(head.subarray(0, headBytes));
      if (!check.ok) {
        // Only a header and nothing (or zeros) after it is a segment a crash left half-created.
        if (check.torn && isLastFile && onlyZerosFrom(fd, SEGMENT_HEADER_BYTES)) {
          repairs.deletions.push({ file, why: `its header is torn (${check.reason}), left by a crash while it was being created; it held no acknowledged entry` });
          continue;
        }
        throw corrupt(file, 0, check.torn && isLastFile ? `${check.reason}, yet data follows the header, so a crash did not leave it half-created` : check.reason);
      }
      const { firstIndex, generation } = check.header;
      if (firstIndex !== files[i]!.firstIndex) throw corrupt(file, 8, `the header says the segment starts at index ${firstIndex}, but its name says ${files[i]!.firstIndex}`);
      if (generation > meta.generation) {
        throw corrupt(file, 16, `the segment's generation ${generation} is newer than the log meta file's (${meta.generation}): the meta file is older than the segments`);
      }
      if (generation < meta.generation) {
        repairs.deletions.push({ file, why: `it belongs to generation ${generation}, before the reset to generation ${meta.generation} that a crash interrupted` });
        continue;
      }
      current.push(new Segment(file, firstIndex, generation));
    }
    await verifySegments(dir, meta, current, repairs);
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
  await applyRepairs(dir, repairs, warn);
  const last = current.at(-1);
  if (last !== undefined) last.handle();
  return { meta, segments: current };
}

/** Scans the current generation's segments, checks they form one run from meta.firstIndex on, and plans the tail cut. */
async function verifySegments(dir: string, meta: LogMeta, segments: Segment[], repairs: Repairs): Promise<void> {
  // Segments wholly before the first index are what an interrupted truncatePrefix left.
  while (segments.length > 1 && segments[1]!.firstIndex <= meta.firstIndex) {
    const gone = segments.shift()!;
    repairs.deletions.push({ file: gone.path, why: `all its entries are before the log's first index ${meta.firstIndex} (a truncatePrefix a crash interrupted)` });
  }
  const first = segments[0];
  if (first === undefined) return;
  if (first.firstIndex > meta.firstIndex) {
    throw corrupt(first.path, 8, `the log starts at index ${meta.firstIndex} (${metaPath(dir)}) but its first segment starts at ${first.firstIndex}: entries ${meta.firstIndex}..${first.firstIndex - 1} are missing`);
  }
  let buf = Buffer.alloc(0);
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const isLast = i === segments.length - 1;
    if (i > 0) {
      const prev = segments[i - 1]!;
      if (segment.firstIndex !== prev.lastIndex() + 1) {
        throw corrupt(segment.path, 0, `the previous segment ${prev.path} ends at index ${prev.lastIndex()}, so a segment starting at ${prev.lastIndex() + 1} is missing`);
      }
    }
    const fd = fs.openSync(segment.path, "r+");
    try {
      const size = fs.fstatSync(fd).size;
      if (buf.length < size) buf = Buffer.allocUnsafe(size);
      readFully(fd, buf, size);
      scanRecords(segment, buf, size, isLast, repairs);
    } finally {
      fs.closeSync(fd);
    }
  }
  const lastIndex = segments.at(-1)!.lastIndex();
  if (lastIndex < meta.firstIndex - 1) {
    throw corrupt(segments.at(-1)!.path, segments.at(-1)!.sizeBytes, `the log ends at index ${lastIndex}, but its meta file says entries up to ${meta.firstIndex - 1} were compacted after being written: entries are missing`);
  }
}

function scanRecords(segment: Segment, buf: Buffer, size: number, isLast: boolean, repairs: Repairs): void {
  const check = newRecordCheck();
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < size) {
    const expected = segment.firstIndex + segment.count;
    checkRecord(buf, offset, size, check);
    if (check.problem === "" && check.index !== expected) check.problem = `a record for index ${check.index} where index ${expected} belongs`;
    if (check.problem === "") {
      segment.push(check.term, check.end - offset);
      offset = check.end;
      continue;
    }
    // Zeros from a record boundary to the end are space preallocated for appends (segment-files.ts),
    // or appends a crash lost before their flush: nothing acknowledged. The segment ends here. A
    // segment before the last may hold such zeros too (a crash before it was cut back); the run
    // check in verifySegments finds any entry missing between segments.
    if (isAllZero(buf.subarray(offset, size))) return;
    if (!isLast) throw corrupt(segment.path, offset, `${check.problem}, in a segment that is not the last`);
    const later = findValidRecord(buf, offset + 1, size, expected);
    if (later !== null) {
      throw corrupt(segment.path, offset, `${check.problem}, yet a sound record for index ${later.index} follows at byte offset ${later.offset}, so this is not a torn tail`);
    }
    repairs.tailCut = {
      file: segment.path,
      offset,
      message:
        `log segment ${segment.path}: cut ${size - offset} bytes at byte offset ${offset} (${check.problem}), the torn tail of a write a crash interrupted; ` +
        `the log now ends at index ${segment.lastIndex()}.`,
    };
    return;
  }
}

/** The first sound record at or after `from` holding an index >= minIndex: proof that damage is not a torn tail. */
function findValidRecord(buf: Buffer, from: number, size: number, minIndex: number): { index: number; offset: number } | null {
  const check = newRecordCheck();
  for (let offset = from; offset + RECORD_OVERHEAD_BYTES <= size; offset++) {
    const index = readU53(buf, offset + 4);
    if (index < minIndex) continue;
    checkRecord(buf, offset, size, check);
    if (check.problem === "") return { index: check.index, offset };
  }
  return null;
}

async function applyRepairs(dir: string, repairs: Repairs, warn: Warn): Promise<void> {
  for (const { file, why } of repairs.deletions) {
    warn(`log segment ${file}: deleted, because ${why}.`);
    await fs.promises.unlink(file);
  }
  const cut = repairs.tailCut;
  if (cut !== null) {
    warn(cut.message);
    const fd = fs.openSync(cut.file, "r+");
    try {
      fs.ftruncateSync(fd, cut.offset);
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  if (repairs.deletions.length > 0) await fsyncDir(dir);
  await removeMetaTemp(dir);
}

function readFully(fd: number, buf: Buffer, size: number): void {
  let done = 0;
  while (done < size) {
    const n = fs.readSync(fd, buf, done, size - done, done);
    if (n === 0) break;
    done += n;
  }
}

/** Whether the file holds nothing but zero bytes from `offset` on (or ends before it). */
function onlyZerosFrom(fd: number, offset: number): boolean {
  const chunk = Buffer.alloc(64 * 1024);
  for (let position = offset; ; position += chunk.length) {
    const bytes = fs.readSync(fd, chunk, 0, chunk.length, position);
    if (bytes === 0) return true;
    if (!isAllZero(chunk.subarray(0, bytes))) return false;
  }
}
