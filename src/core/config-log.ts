/**
 * Where the membership changed in the log. A configuration takes effect as
 * soon as it is appended (thesis §4.1), so a follower whose log is truncated
 * must fall back to the configuration before the removed entries.
 */
import { invariant } from "./assert.js";
import { Configuration } from "./configuration.js";

interface ConfigAt {
  readonly index: number;
  readonly conf: Configuration;
}

export class ConfigLog {
  /** The first element is the base (from the snapshot); the rest are configuration entries in log order. */
  private history: ConfigAt[];

  constructor(baseIndex: number, base: Configuration) {
    this.history = [{ index: baseIndex, conf: base }];
  }

  current(): Configuration {
    return this.history[this.history.length - 1]!.conf;
  }

  /** Index of the entry that established the current configuration. */
  currentIndex(): number {
    return this.history[this.history.length - 1]!.index;
  }

  at(index: number): Configuration {
    for (let i = this.history.length - 1; i >= 0; i--) {
      if (this.history[i]!.index <= index) return this.history[i]!.conf;
    }
    return this.history[0]!.conf;
  }

  add(index: number, conf: Configuration): void {
    invariant(index > this.currentIndex(), () => `configuration at ${index} is not after ${this.currentIndex()}`);
    this.history.push({ index, conf });
  }

  /** Drops configurations at or after `index` (their entries were replaced). */
  truncateFrom(index: number): void {
    while (this.history.length > 1 && this.history[this.history.length - 1]!.index >= index) this.history.pop();
  }

  /** Forgets history the log no longer has: keeps the latest configuration at or below `index` as the base. */
  compactTo(index: number): void {
    let keep = 0;
    for (let i = 0; i < this.history.length; i++) if (this.history[i]!.index <= index) keep = i;
    if (keep > 0) this.history = this.history.slice(keep);
  }

  reset(baseIndex: number, base: Configuration): void {
    this.history = [{ index: baseIndex, conf: base }];
  }
}
