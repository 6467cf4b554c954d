/**
 * The Raft hard state (term, vote, commit) on disk (§5.1, Figure 2: updated on
 * stable storage before responding to RPCs). One small checksummed file,
 * replaced atomically on every save: after a crash it holds the old state or
 * the new one, never a mix.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { invariant } from "../core/assert.js";
import { EMPTY_HARD_STATE, type HardState } from "../core/types.js";
import { RaftError } from "../errors.js";
import { ensureDir, removeTempFiles, writeFileAtomic } from "./atomic-file.js";
import { corruptRecord, decodeEnvelope, encodeEnvelope, type EnvelopeKind } from "./checksummed-file.js";
import { SerialQueue } from "./serial-queue.js";

/** Node ids are `ip:port[:idx[:priority]]`; anything this long is a mistake. */
export const MAX_VOTE_ID_BYTES = 1024;

const HARD_STATE_KIND: EnvelopeKind = {
  magic: "TRHS",
  version: 1,
  what: "tsraft hard state file",
  remedy:
    "restore the file from a backup. Without it this node does not know its term and vote and must not start: " +
    "if no backup exists, remove this node's data folder and add it back to the cluster as a new member",
};

export class MetaStore {
  static readonly FILE_NAME = "raft_meta";

  private readonly writes = new SerialQueue();

  private constructor(
    /** The hard state file. */
    readonly path: string,
    private current: HardState,
  ) {}

  /** Opens (creating `dir` if needed) and reads the stored state: EMPTY_HARD_STATE when there is none. */
  static async open(dir: string): Promise<MetaStore> {
    await ensureDir(dir);
    const path = join(dir, MetaStore.FILE_NAME);
    // A temp file is a save that never completed (it was not acknowledged): the old state stands.
    await removeTempFiles(path);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return new MetaStore(path, EMPTY_HARD_STATE);
      throw error;
    }
    return new MetaStore(path, parseHardState(decodeEnvelope(HARD_STATE_KIND, bytes, path), path));
  }

  /** The state last saved (or read on open). */
  get hardState(): HardState {
    return this.current;
  }

  /** Durably replaces the stored state; saves run in call order. */
  async save(state: HardState): Promise<void> {
    checkHardState(state);
    await this.writes.run(async () => {
      const previous = this.current;
      // A term going back, or a second vote in one term, would break election safety (§5.2).
      invariant(state.term >= previous.term, () => `hard state term went back from ${previous.term} to ${state.term}`);
      invariant(
        state.term > previous.term || previous.vote === null || state.vote === previous.vote,
        () => `vote changed within term ${state.term} from ${previous.vote} to ${state.vote}`,
      );
      const snapshot: HardState = { term: state.term, vote: state.vote, commit: state.commit };
      await writeFileAtomic(this.path, encodeEnvelope(HARD_STATE_KIND, snapshot));
      this.current = snapshot;
    });
  }
}

function checkHardState(state: HardState): void {
  const problem = hardStateProblem(state);
  if (problem !== null) throw new RaftError("EINVAL", `cannot save hard state: ${problem}`);
}

function parseHardState(payload: unknown, path: string): HardState {
  const problem = hardStateProblem(payload);
  if (problem !== null) throw corruptRecord(HARD_STATE_KIND, path, problem);
  const { term, vote, commit } = payload as HardState;
  return { term, vote, commit };
}

function hardStateProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return "it is not an object";
  const { term, vote, commit } = value as Record<string, unknown>;
  if (!isIndex(term)) return `term ${String(term)} is not a non-negative safe integer`;
  if (!isIndex(commit)) return `commit ${String(commit)} is not a non-negative safe integer`;
  if (vote === null) return null;
  if (typeof vote !== "string" || vote.length === 0) return `vote ${JSON.stringify(vote)} is neither null nor a node id`;
  if (Buffer.byteLength(vote, "utf8") > MAX_VOTE_ID_BYTES) return `vote is longer than ${MAX_VOTE_ID_BYTES} bytes`;
  return null;
}

function isIndex(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
