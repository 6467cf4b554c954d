/**
 * Limits on one check, so that a pathological history answers "unknown"
 * instead of running for hours or filling the heap. The search is exponential
 * in the worst case; these bound it.
 */
import { RaftError } from "../errors.js";

export interface SearchLimits {
  /** Wall-clock time for the whole check, every key included. */
  readonly timeBudgetMs?: number;
  /** Search steps (placements tried) for the whole check. */
  readonly maxSearchSteps?: number;
  /** Visited configurations remembered per key. */
  readonly maxMemoEntries?: number;
  /** Memory for the visited configurations of one key. */
  readonly maxMemoBytes?: number;
}

export const DEFAULT_TIME_BUDGET_MS = 60_000;
export const DEFAULT_MAX_MEMO_ENTRIES = 2_000_000;
export const DEFAULT_MAX_MEMO_BYTES = 256 * 1024 * 1024;

/** Reading the clock costs more than a search step, so it is read once per this many steps. */
const STEPS_PER_CLOCK_READ = 1024;

export class SearchBudget {
  readonly maxMemoEntries: number;
  readonly maxMemoBytes: number;
  private readonly timeBudgetMs: number;
  private readonly deadlineMs: number;
  private stepsLeft: number;
  private stepsToClockRead = STEPS_PER_CLOCK_READ;
  private spentReason: string | null = null;

  constructor(limits: SearchLimits = {}) {
    this.timeBudgetMs = positive(limits.timeBudgetMs ?? DEFAULT_TIME_BUDGET_MS, "timeBudgetMs");
    this.stepsLeft = positive(limits.maxSearchSteps ?? Infinity, "maxSearchSteps");
    this.maxMemoEntries = positive(limits.maxMemoEntries ?? DEFAULT_MAX_MEMO_ENTRIES, "maxMemoEntries");
    this.maxMemoBytes = positive(limits.maxMemoBytes ?? DEFAULT_MAX_MEMO_BYTES, "maxMemoBytes");
    this.deadlineMs = performance.now() + this.timeBudgetMs;
  }

  /** Takes one step; false once the time or the steps are spent (and from then on). */
  spendStep(): boolean {
    if (this.spentReason !== null) return false;
    if (--this.stepsLeft < 0) {
      this.spentReason = "the search-step budget (maxSearchSteps) is spent";
      return false;
    }
    if (--this.stepsToClockRead === 0) {
      this.stepsToClockRead = STEPS_PER_CLOCK_READ;
      if (performance.now() > this.deadlineMs) {
        this.spentReason = `the time budget of ${this.timeBudgetMs} ms (timeBudgetMs) is spent`;
        return false;
      }
    }
    return true;
  }

  /** Why spendStep answered false, or null while there is budget left. */
  get exhaustion(): string | null {
    return this.spentReason;
  }
}

function positive(value: number, name: string): number {
  if (!(value > 0)) throw new RaftError("EINVAL", `${name} must be positive, got ${value}`);
  return value;
}
