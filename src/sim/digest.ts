/**
 * Small non-cryptographic digests for comparing entries and state machine
 * states across nodes. Two 32-bit lanes folded into a 53-bit number, so a
 * digest is a plain number (cheap to store in maps and compare).
 */
import type { Entry } from "../core/types.js";

const LANE_A_SEED = 0x811c9dc5;
const LANE_B_SEED = 0x3c6ef372;

function mixLane(hash: number, value: number, multiplier: number): number {
  hash = Math.imul(hash ^ (value >>> 0), multiplier);
  return (hash ^ (hash >>> 15)) >>> 0;
}

function fold(a: number, b: number): number {
  return (a >>> 0) * 0x200000 + ((b >>> 0) >>> 11);
}

/** Digest of a list of small integers (each below 2^53). */
export function digestNumbers(values: readonly number[]): number {
  let a = LANE_A_SEED;
  let b = LANE_B_SEED;
  for (const value of values) {
    const low = value >>> 0;
    const high = Math.floor(value / 0x1_0000_0000) >>> 0;
    a = mixLane(mixLane(a, low, 0x01000193), high, 0x01000193);
    b = mixLane(mixLane(b, low, 0x5bd1e995), high, 0x5bd1e995);
  }
  return fold(a, b);
}

/** Digest of an entry's content (type and payload); index and term are compared separately. */
export function digestEntry(entry: Entry): number {
  let a = mixLane(LANE_A_SEED, entry.type, 0x01000193);
  let b = mixLane(LANE_B_SEED, entry.type, 0x5bd1e995);
  const data = entry.data;
  for (let i = 0; i < data.length; i++) {
    a = mixLane(a, data[i]!, 0x01000193);
    b = mixLane(b, data[i]!, 0x5bd1e995);
  }
  a = mixLane(a, data.length, 0x01000193);
  b = mixLane(b, data.length, 0x5bd1e995);
  return fold(a, b);
}
