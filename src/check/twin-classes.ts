/**
 * Unanswered operations with equal inputs are interchangeable: once both are
 * invoked, any linearization that places the later one could place the
 * earlier one there instead, since neither has an output to respect or a
 * return to meet. So the search only ever places the earliest unplaced member
 * of a class, and tries each class once per configuration. Without this, k
 * timed-out increments of a sequence would be tried in 2^k subsets instead of
 * k + 1 counts.
 */
import type { ListEntry } from "./call-list.js";

export class TwinClasses {
  private readonly classOf: Int32Array;
  private readonly indexInClass: Int32Array;
  /** Each class's members in invocation order. */
  private readonly members: ListEntry[][] = [];
  /** Per class, how many members are placed: always its earliest ones. */
  private readonly placedCount: number[] = [];

  /** `unanswered` is the head of the unanswered calls in invocation order. */
  constructor(operationCount: number, unanswered: ListEntry, inputKey: (operation: number) => string | number) {
    this.classOf = new Int32Array(operationCount).fill(-1);
    this.indexInClass = new Int32Array(operationCount).fill(-1);
    const classByKey = new Map<string | number, number>();
    for (let entry = unanswered.next; entry !== null; entry = entry.next) {
      const key = inputKey(entry.operation);
      let twinClass = classByKey.get(key);
      if (twinClass === undefined) {
        twinClass = this.members.length;
        classByKey.set(key, twinClass);
        this.members.push([]);
        this.placedCount.push(0);
      }
      this.classOf[entry.operation] = twinClass;
      this.indexInClass[entry.operation] = this.members[twinClass].length;
      this.members[twinClass].push(entry);
    }
  }

  /** True for one unplaced member per class: the newest invoked before `limitRank`. */
  isNewestBefore(entry: ListEntry, limitRank: number): boolean {
    const twins = this.members[this.classOf[entry.operation]];
    const later = twins[this.indexInClass[entry.operation] + 1];
    return later === undefined || later.rank >= limitRank;
  }

  /** The member of `entry`'s class that may be placed now. */
  earliestUnplaced(entry: ListEntry): ListEntry {
    const twinClass = this.classOf[entry.operation];
    return this.members[twinClass][this.placedCount[twinClass]];
  }

  /** Records that `entry`, the class's earliest unplaced member, was placed (+1) or taken back (-1). */
  count(entry: ListEntry, change: 1 | -1): void {
    this.placedCount[this.classOf[entry.operation]] += change;
  }
}
