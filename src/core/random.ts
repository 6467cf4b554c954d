/**
 * Randomness is injected so that one seed replays a whole run. The core only
 * needs integers in a range; SeededRandom is a small, fast generator
 * (SplitMix32) good enough for timeouts and fault schedules, not for crypto.
 */
export interface RandomSource {
  /** An integer in [0, bound). */
  nextInt(bound: number): number;
}

export class SeededRandom implements RandomSource {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  nextInt(bound: number): number {
    if (!(bound > 0)) throw new RangeError(`bound must be positive, got ${bound}`);
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * bound);
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /** True with the given probability. */
  chance(probability: number): boolean {
    return this.nextFloat() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("cannot pick from an empty list");
    return items[this.nextInt(items.length)] as T;
  }

  /** A generator seeded from this one, for an independent stream. */
  fork(): SeededRandom {
    return new SeededRandom(this.nextUint32());
  }
}
