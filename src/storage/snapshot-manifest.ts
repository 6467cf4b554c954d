/**
 * A snapshot's manifest: what it covers (index, term, membership) and, for each
 * of the state machine's files, its name, size and CRC32C. It is stored in the
 * snapshot's folder and is what a leader sends first when it installs a
 * snapshot on a follower, so it is validated like any input from disk or wire.
 */
import type { ConfState, SnapshotMeta } from "../core/types.js";
import { RaftError } from "../errors.js";
import { corruptRecord, decodeEnvelope, encodeEnvelope, type EnvelopeKind } from "./checksummed-file.js";

/** The manifest's file name inside a snapshot folder; file names from users cannot start with '_'. */
export const MANIFEST_FILE_NAME = "_manifest";
/** A bound on the files of one snapshot, so a damaged manifest cannot ask for unbounded work. */
export const MAX_SNAPSHOT_FILES = 10_000;
const MAX_FILE_NAME_BYTES = 255;
/** Letters, digits, '.', '_', '-', starting with a letter or digit: no separators, no hidden or reserved names. */
const FILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface SnapshotFileEntry {
  readonly name: string;
  readonly sizeBytes: number;
  readonly crc32c: number;
}

export interface SnapshotManifest {
  readonly meta: SnapshotMeta;
  /** In name order. */
  readonly files: readonly SnapshotFileEntry[];
}

export const MANIFEST_KIND: EnvelopeKind = {
  magic: "TRSM",
  version: 1,
  what: "tsraft snapshot manifest",
  remedy:
    "remove this snapshot's folder (the node then uses an older snapshot, or receives one from the leader) or restore it from a backup",
};

/** Why `name` cannot be a snapshot file name, or null if it can. */
export function fileNameProblem(name: unknown): string | null {
  if (typeof name !== "string") return "a file name must be a string";
  if (!FILE_NAME_PATTERN.test(name)) {
    return `file name ${JSON.stringify(name)} must be letters, digits, '.', '_' or '-', starting with a letter or digit (no folders, no paths)`;
  }
  if (name.includes("..")) return `file name ${JSON.stringify(name)} must not contain '..'`;
  if (name.length > MAX_FILE_NAME_BYTES) return `file name ${JSON.stringify(name)} is longer than ${MAX_FILE_NAME_BYTES} bytes`;
  return null;
}

export function encodeManifest(manifest: SnapshotManifest): Uint8Array {
  return encodeEnvelope(MANIFEST_KIND, manifest);
}

/** Decodes and validates a manifest from a file or a peer (`source` names it in errors). */
export function decodeManifest(bytes: Uint8Array, source: string): SnapshotManifest {
  const payload = decodeEnvelope(MANIFEST_KIND, bytes, source);
  const problem = manifestProblem(payload);
  if (problem !== null) throw corruptRecord(MANIFEST_KIND, source, problem);
  return copyManifest(payload as SnapshotManifest);
}

/** Checks a manifest built in memory (e.g. handed to beginReceive); EINVAL when it is unusable. */
export function checkManifest(manifest: SnapshotManifest): SnapshotManifest {
  const problem = manifestProblem(manifest);
  if (problem !== null) throw new RaftError("EINVAL", `invalid snapshot manifest: ${problem}`);
  return copyManifest(manifest);
}

/** Why `meta` cannot describe a snapshot, or null if it can. */
export function snapshotMetaProblem(meta: unknown): string | null {
  if (typeof meta !== "object" || meta === null) return "meta is not an object";
  const { index, term, conf } = meta as Record<string, unknown>;
  if (!isCount(index) || index < 1) return `index ${String(index)} is not a positive safe integer`;
  if (!isCount(term) || term < 1) return `term ${String(term)} is not a positive safe integer`;
  if (typeof conf !== "object" || conf === null) return "conf is not an object";
  for (const key of ["voters", "outgoing", "learners"] as const) {
    const ids = (conf as Record<string, unknown>)[key];
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string" && id.length > 0)) return `conf.${key} is not a list of node ids`;
  }
  return null;
}

export function manifestTotalBytes(manifest: SnapshotManifest): number {
  return manifest.files.reduce((sum, file) => sum + file.sizeBytes, 0);
}

export function manifestsEqual(a: SnapshotManifest, b: SnapshotManifest): boolean {
  return JSON.stringify(copyManifest(a)) === JSON.stringify(copyManifest(b));
}

function manifestProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return "it is not an object";
  const { meta, files } = value as Record<string, unknown>;
  const metaProblem = snapshotMetaProblem(meta);
  if (metaProblem !== null) return metaProblem;
  if (!Array.isArray(files)) return "files is not a list";
  if (files.length > MAX_SNAPSHOT_FILES) return `it lists ${files.length} files, more than the limit of ${MAX_SNAPSHOT_FILES}`;
  let previousName = "";
  for (const file of files as unknown[]) {
    if (typeof file !== "object" || file === null) return "a file entry is not an object";
    const { name, sizeBytes, crc32c } = file as Record<string, unknown>;
    const nameProblem = fileNameProblem(name);
    if (nameProblem !== null) return nameProblem;
    if ((name as string) <= previousName) return `file ${JSON.stringify(name)} is out of name order or listed twice`;
    previousName = name as string;
    if (!isCount(sizeBytes)) return `file ${JSON.stringify(name)} has size ${String(sizeBytes)}, not a non-negative safe integer`;
    if (!isCount(crc32c) || crc32c > 0xffffffff) return `file ${JSON.stringify(name)} has checksum ${String(crc32c)}, not a 32-bit value`;
  }
  return null;
}

/** A plain copy with fields in a fixed order (so equal manifests encode equally). */
function copyManifest(manifest: SnapshotManifest): SnapshotManifest {
  const conf: ConfState = {
    voters: [...manifest.meta.conf.voters],
    outgoing: [...manifest.meta.conf.outgoing],
    learners: [...manifest.meta.conf.learners],
  };
  return {
    meta: { index: manifest.meta.index, term: manifest.meta.term, conf },
    files: manifest.files.map(({ name, sizeBytes, crc32c }) => ({ name, sizeBytes, crc32c })),
  };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
