/**
 * Snapshots on disk: one folder per snapshot, `snapshot_<index>`, holding the
 * state machine's files and a checksummed manifest. A snapshot is built in a
 * temp folder (local writer) or a `receiving_<index>` folder (follower
 * install) and published by rename, so a folder named `snapshot_*` is
 * always complete. The newest `keepCount` are kept; older ones go after each
 * publish, except while a reader (a transfer to a follower) still uses them.
 */
import { mkdir, readFile, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { SnapshotMeta } from "../core/types.js";
import { RaftError } from "../errors.js";
import { DATA_DIR_MODE, ensureDir, fsyncDir } from "./atomic-file.js";
import { SerialQueue } from "./serial-queue.js";
import {
  MANIFEST_FILE_NAME,
  checkManifest,
  decodeManifest,
  snapshotMetaProblem,
  type SnapshotManifest,
} from "./snapshot-manifest.js";
import { PUBLISHED_PREFIX, RECEIVING_PREFIX, TEMP_PREFIX, indexOfFolder, snapshotFolderName, verifyFile } from "./snapshot-files.js";
import { SnapshotReader } from "./snapshot-reader.js";
import { SnapshotReceiver } from "./snapshot-receiver.js";
import { SnapshotWriter } from "./snapshot-writer.js";

export const DEFAULT_SNAPSHOT_KEEP_COUNT = 2;

export interface SnapshotStoreOptions {
  /** Published snapshots kept; older ones are removed after a publish. Default 2. */
  readonly keepCount?: number;
}

/** A published snapshot. */
export interface SnapshotRef {
  readonly meta: SnapshotMeta;
  /** Its folder: the state machine's files, by the names in the manifest. */
  readonly dir: string;
  readonly manifest: SnapshotManifest;
}

const DAMAGED_SNAPSHOT_REMEDY =
  "Remove this snapshot's folder to fall back to an older snapshot (or, with none, to receive one from the leader), or restore it from a backup";

export class SnapshotStore {
  /** Open readers per snapshot index: those snapshots are not pruned. */
  private readonly readerCounts = new Map<number, number>();
  /** The one receive in progress ("starting" while beginReceive awaits). */
  private receiver: SnapshotReceiver | "starting" | null = null;
  /** Publishing and pruning change the set of folders; one at a time. */
  private readonly folderChanges = new SerialQueue();
  private tempSequence = 0;

  private constructor(
    readonly dir: string,
    readonly keepCount: number,
  ) {}

  /** Opens (creating `dir` if needed); removes temp folders a crash left behind. */
  static async open(dir: string, options: SnapshotStoreOptions = {}): Promise<SnapshotStore> {
    const keepCount = options.keepCount ?? DEFAULT_SNAPSHOT_KEEP_COUNT;
    if (!Number.isSafeInteger(keepCount) || keepCount < 1) {
      throw new RaftError("EINVAL", `snapshot keepCount must be an integer of at least 1, got ${keepCount}`);
    }
    await ensureDir(dir);
    const store = new SnapshotStore(dir, keepCount);
    await store.removeLeftovers();
    return store;
  }

  /** Indexes of the published snapshots, oldest first. */
  async publishedIndexes(): Promise<number[]> {
    const indexes: number[] = [];
    for (const name of await readdir(this.dir)) {
      const index = indexOfFolder(PUBLISHED_PREFIX, name);
      if (index !== null) indexes.push(index);
    }
    return indexes.sort((a, b) => a - b);
  }

  /**
   * The newest published snapshot, its manifest and every file checked against
   * their checksums; null when there is none. Damage is an ECORRUPT naming the
   * file: an older snapshot is never substituted silently.
   */
  async latest(): Promise<SnapshotRef | null> {
    const indexes = await this.publishedIndexes();
    const newest = indexes.at(-1);
    if (newest === undefined) return null;
    const ref = await this.loadRef(newest);
    for (const file of ref.manifest.files) await verifyFile(ref.dir, file, DAMAGED_SNAPSHOT_REMEDY);
    return ref;
  }

  /** Starts a local snapshot covering `meta`; the state machine writes its files into the writer's folder. */
  async beginSnapshot(meta: SnapshotMeta): Promise<SnapshotWriter> {
    const problem = snapshotMetaProblem(meta);
    if (problem !== null) throw new RaftError("EINVAL", `cannot begin a snapshot: ${problem}`);
    await this.checkNewerThanPublished(meta.index);
    const dir = join(this.dir, `${TEMP_PREFIX}${snapshotFolderName("", meta.index)}_${process.pid}-${this.tempSequence++}`);
    await mkdir(dir, { mode: DATA_DIR_MODE });
    return new SnapshotWriter(this, dir, meta);
  }

  /** Opens a published snapshot for chunked reads; it is not pruned until the reader closes. */
  async openReader(index: number): Promise<SnapshotReader> {
    // Registered before any await, so a concurrent prune sees it.
    this.readerCounts.set(index, (this.readerCounts.get(index) ?? 0) + 1);
    try {
      const ref = await this.loadRef(index);
      return new SnapshotReader(ref, () => this.releaseReader(index));
    } catch (error) {
      await this.releaseReader(index);
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new RaftError("EINVAL", `no published snapshot at index ${index} in ${this.dir}`);
      }
      throw error;
    }
  }

  /**
   * Starts (or resumes, after a crash or a broken connection) receiving the
   * leader's snapshot described by `manifest`. An unfinished receive of another
   * snapshot is discarded. One receiver at a time: close or abort it first.
   */
  async beginReceive(manifest: SnapshotManifest): Promise<SnapshotReceiver> {
    const checked = checkManifest(manifest);
    if (this.receiver !== null) throw new RaftError("EBUSY", "a snapshot is already being received; close or abort that receive first");
    this.receiver = "starting";
    try {
      await this.checkNewerThanPublished(checked.meta.index);
      const keep = snapshotFolderName(RECEIVING_PREFIX, checked.meta.index);
      for (const name of await readdir(this.dir)) {
        if (name !== keep && indexOfFolder(RECEIVING_PREFIX, name) !== null) await this.removeFolder(name);
      }
      const receiver = await SnapshotReceiver.openOrCreate(this, join(this.dir, keep), checked);
      this.receiver = receiver;
      return receiver;
    } catch (error) {
      this.receiver = null;
      throw error;
    }
  }

  // --- for the writer and receiver of this store ---

  /** @internal Publishes a complete folder holding its manifest: rename, fsync, then prune. */
  publishFolder(sourceDir: string, manifest: SnapshotManifest): Promise<SnapshotRef> {
    return this.folderChanges.run(async () => {
      await this.checkNewerThanPublished(manifest.meta.index);
      const dir = join(this.dir, snapshotFolderName(PUBLISHED_PREFIX, manifest.meta.index));
      await rename(sourceDir, dir);
      await fsyncDir(this.dir);
      await this.prune();
      return { meta: manifest.meta, dir, manifest };
    });
  }

  /** @internal */
  releaseReceiver(receiver: SnapshotReceiver): void {
    if (this.receiver === receiver) this.receiver = null;
  }

  // --- internals ---

  private async releaseReader(index: number): Promise<void> {
    const count = (this.readerCounts.get(index) ?? 0) - 1;
    if (count > 0) {
      this.readerCounts.set(index, count);
      return;
    }
    this.readerCounts.delete(index);
    await this.folderChanges.run(() => this.prune());
  }

  private async loadRef(index: number): Promise<SnapshotRef> {
    const dir = join(this.dir, snapshotFolderName(PUBLISHED_PREFIX, index));
    const manifestPath = join(dir, MANIFEST_FILE_NAME);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(manifestPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      await readdir(dir); // a missing folder stays ENOENT; a folder without a manifest is damage
      throw new RaftError("ECORRUPT", `${manifestPath}: the snapshot's manifest is missing. ${DAMAGED_SNAPSHOT_REMEDY}`);
    }
    const manifest = decodeManifest(bytes, manifestPath);
    if (manifest.meta.index !== index) {
      throw new RaftError(
        "ECORRUPT",
        `${manifestPath}: the manifest is for index ${manifest.meta.index} but its folder is named for index ${index}. ${DAMAGED_SNAPSHOT_REMEDY}`,
      );
    }
    return { meta: manifest.meta, dir, manifest };
  }

  private async checkNewerThanPublished(index: number): Promise<void> {
    const newest = (await this.publishedIndexes()).at(-1);
    if (newest !== undefined && newest >= index) {
      throw new RaftError("EPERM", `a snapshot at index ${newest} is already published; a new one must cover more of the log than index ${index}`);
    }
  }

  /** Removes published snapshots beyond the newest keepCount that no reader uses. */
  private async prune(): Promise<void> {
    const indexes = await this.publishedIndexes();
    for (const index of indexes.slice(0, Math.max(0, indexes.length - this.keepCount))) {
      if (!this.readerCounts.has(index)) await this.removeFolder(snapshotFolderName(PUBLISHED_PREFIX, index));
    }
  }

  /** Renames first so a crash mid-removal leaves a temp folder (cleaned on open), never a half snapshot. */
  private async removeFolder(name: string): Promise<void> {
    const trash = `${TEMP_PREFIX}trash_${name}_${process.pid}-${this.tempSequence++}`;
    await rename(join(this.dir, name), join(this.dir, trash));
    await fsyncDir(this.dir);
    await rm(join(this.dir, trash), { recursive: true, force: true });
  }

  /** Temp folders are unfinished local snapshots or removals; a receive older than the newest snapshot is stale. */
  private async removeLeftovers(): Promise<void> {
    const names = await readdir(this.dir);
    const newest = (await this.publishedIndexes()).at(-1) ?? 0;
    let removed = false;
    for (const name of names) {
      const receiving = indexOfFolder(RECEIVING_PREFIX, name);
      if (name.startsWith(TEMP_PREFIX) || (receiving !== null && receiving <= newest)) {
        await rm(join(this.dir, name), { recursive: true, force: true });
        removed = true;
      }
    }
    if (removed) await fsyncDir(this.dir);
  }
}
