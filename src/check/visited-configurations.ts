/**
 * The memo of the search (as in Porcupine, with one refinement): a
 * configuration is the set of answered operations placed, the set of
 * unanswered ones placed, and the model state they lead to. A configuration
 * is skipped when one with the same answered set and state, and a subset of
 * its unanswered ones, was reached before: placing an unanswered operation
 * only uses up an option (it may also never take effect), so the smaller
 * configuration can do whatever the larger one can. Without this, every
 * absorbed timed-out write would double the configurations that follow it.
 *
 * Sets are bitsets kept side by side in one typed array, found through an
 * open-addressing table keyed by the answered set and the state, so that a
 * million of them stay compact; the table is bounded in entries and bytes.
 */

export type Visit = "new" | "seen" | "full";

/** Slots per entry at most; open addressing stays fast below half full. */
const SLOTS_PER_ENTRY = 2;
const INITIAL_ENTRIES = 1024;

export class VisitedConfigurations {
  private readonly answeredWords: number;
  private readonly entryWords: number;
  private readonly maxEntries: number;
  private bitsets: Uint32Array;
  private hashes: Int32Array;
  private stateIds: Int32Array;
  private slots: Int32Array; // entry index + 1; 0 is empty
  private count = 0;
  private readonly stateIdByKey = new Map<string | number, number>();

  constructor(answeredCount: number, unansweredCount: number, maxEntries: number, maxBytes: number) {
    this.answeredWords = wordsFor(answeredCount);
    this.entryWords = this.answeredWords + wordsFor(unansweredCount);
    const bytesPerEntry = 4 * (this.entryWords + 2 + SLOTS_PER_ENTRY);
    this.maxEntries = Math.max(0, Math.min(maxEntries, Math.floor(maxBytes / bytesPerEntry)));
    const initial = Math.max(1, Math.min(INITIAL_ENTRIES, this.maxEntries));
    this.bitsets = new Uint32Array(initial * this.entryWords);
    this.hashes = new Int32Array(initial);
    this.stateIds = new Int32Array(initial);
    this.slots = new Int32Array(tableSizeFor(initial));
  }

  get size(): number {
    return this.count;
  }

  /**
   * Remembers the configuration unless an equal or smaller one was visited
   * ("seen") or there is no room left ("full"). `answeredHash` is the XOR of
   * operationHash over the answered set.
   */
  visit(answered: Uint32Array, answeredHash: number, unanswered: Uint32Array, stateKey: string | number): Visit {
    let stateId = this.stateIdByKey.get(stateKey);
    const known = stateId !== undefined;
    if (stateId === undefined) stateId = this.stateIdByKey.size;
    const hash = fmix32(answeredHash ^ Math.imul(stateId + 1, 0x9e3779b1)) | 0;
    const mask = this.slots.length - 1;
    if (known) {
      for (let slot = hash & mask, entry = this.slots[slot]; entry !== 0; slot = (slot + 1) & mask, entry = this.slots[slot]) {
        if (this.covers(entry - 1, answered, unanswered, hash, stateId)) return "seen";
      }
    }
    if (this.count >= this.maxEntries) return "full";
    if (!known) this.stateIdByKey.set(stateKey, stateId);
    this.append(answered, unanswered, hash, stateId);
    return "new";
  }

  /** Same state and answered set, and a subset of the unanswered ones. */
  private covers(entry: number, answered: Uint32Array, unanswered: Uint32Array, hash: number, stateId: number): boolean {
    if (this.hashes[entry] !== hash || this.stateIds[entry] !== stateId) return false;
    const base = entry * this.entryWords;
    for (let word = 0; word < this.answeredWords; word++) {
      if (this.bitsets[base + word] !== answered[word]) return false;
    }
    const unansweredBase = base + this.answeredWords;
    for (let word = 0; word < this.entryWords - this.answeredWords; word++) {
      if ((this.bitsets[unansweredBase + word] & ~unanswered[word]) !== 0) return false;
    }
    return true;
  }

  private append(answered: Uint32Array, unanswered: Uint32Array, hash: number, stateId: number): void {
    if (this.count === this.hashes.length) this.grow();
    const entry = this.count++;
    const base = entry * this.entryWords;
    this.bitsets.set(answered.subarray(0, this.answeredWords), base);
    this.bitsets.set(unanswered.subarray(0, this.entryWords - this.answeredWords), base + this.answeredWords);
    this.hashes[entry] = hash;
    this.stateIds[entry] = stateId;
    if (this.count * SLOTS_PER_ENTRY > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(entry);
  }

  private grow(): void {
    const capacity = Math.min(this.hashes.length * 2, this.maxEntries);
    const bitsets = new Uint32Array(capacity * this.entryWords);
    bitsets.set(this.bitsets);
    this.bitsets = bitsets;
    const hashes = new Int32Array(capacity);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const stateIds = new Int32Array(capacity);
    stateIds.set(this.stateIds);
    this.stateIds = stateIds;
  }

  private rehash(slotCount: number): void {
    this.slots = new Int32Array(slotCount);
    for (let entry = 0; entry < this.count; entry++) this.place(entry);
  }

  private place(entry: number): void {
    const mask = this.slots.length - 1;
    let slot = this.hashes[entry] & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = entry + 1;
  }
}

/** Bitset words for `count` members; at least one, so that empty sets need no special case. */
export function wordsFor(count: number): number {
  return Math.max(1, Math.ceil(count / 32));
}

/**
 * The Zobrist key of operation `index`: a set's hash is the XOR of its
 * members' keys, updated in O(1) as operations are placed and taken back.
 */
export function operationHash(index: number): number {
  return fmix32(Math.imul(index + 1, 0x9e3779b1));
}

function tableSizeFor(entries: number): number {
  let size = 16;
  while (size < entries * SLOTS_PER_ENTRY) size *= 2;
  return size;
}

/** MurmurHash3's finalizer: spreads every input bit over the output. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
