/**
 * The KV benchmarks' data, the issue's workload: keys of 16 bytes ("k" and a
 * zero-padded number) and values of 256 bytes.
 */
export const KEY_BYTES = 16;
export const VALUE_BYTES = 256;

/** Key number `n`, made anew on each call. */
export function benchKey(n: number): Buffer {
  return Buffer.from(`k${String(n).padStart(KEY_BYTES - 1, "0")}`);
}

export interface Workload {
  readonly keyCount: number;
  readonly keyOf: (n: number) => Buffer;
  readonly value: Buffer;
}

/** `keyCount` keys made up front, so that a run spends nothing on them, and one value for every put. */
export function workloadOf(keyCount: number): Workload {
  const value = Buffer.alloc(VALUE_BYTES);
  for (let i = 0; i < VALUE_BYTES; i++) value[i] = 97 + (i % 26);
  const keys = Array.from({ length: keyCount }, (_, n) => benchKey(n));
  return { keyCount, keyOf: (n) => keys[n]!, value };
}
