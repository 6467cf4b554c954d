/**
 * The simulated state machine: a running digest of every applied entry
 * (index, term, content), so two nodes' states at one index compare with one
 * number. It snapshots and restores like a real state machine would.
 */
import type { Entry } from "../core/types.js";
import { EntryType } from "../core/types.js";
import { digestEntry, digestNumbers } from "./digest.js";

/** A state machine's state at `index`; what a snapshot carries. */
export interface StateSnapshot {
  readonly index: number;
  readonly stateHash: number;
  /** User commands (Normal entries) applied up to `index`. */
  readonly commandCount: number;
}

export const EMPTY_STATE: StateSnapshot = { index: 0, stateHash: 0, commandCount: 0 };

export class HashStateMachine {
  private appliedIndex: number;
  private hash: number;
  private commands: number;

  constructor(from: StateSnapshot = EMPTY_STATE) {
    this.appliedIndex = from.index;
    this.hash = from.stateHash;
    this.commands = from.commandCount;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  get stateHash(): number {
    return this.hash;
  }

  get commandCount(): number {
    return this.commands;
  }

  /** Applies one entry; the caller guarantees entry.index === applied + 1 (checked by the safety checker). */
  apply(entry: Entry, contentDigest: number = digestEntry(entry)): void {
    this.hash = digestNumbers([this.hash, entry.index, entry.term, contentDigest]);
    this.appliedIndex = entry.index;
    if (entry.type === EntryType.Normal) this.commands++;
  }

  snapshot(): StateSnapshot {
    return { index: this.appliedIndex, stateHash: this.hash, commandCount: this.commands };
  }

  restore(from: StateSnapshot): void {
    this.appliedIndex = from.index;
    this.hash = from.stateHash;
    this.commands = from.commandCount;
  }
}
