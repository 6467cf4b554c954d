/**
 * Damage done to well-formed encodings: what a bad network, a bad disk or a
 * hostile peer does. Mutations are data (shrinkable, printed in a failure),
 * with positions taken modulo the input's length so that any mutation applies
 * to any input. Besides bit flips and cuts they aim at length and count
 * fields: 32- and 64-bit values at the edges (4 GiB, 2^53, NaN as a double).
 */
import fc from "fast-check";

/** Mutations of one input kind, and how they apply; `donor` is another well-formed input to splice from. */
export interface Mutator<I> {
  readonly mutations: fc.Arbitrary<readonly unknown[]>;
  apply(input: I, mutations: readonly unknown[], donor: I): I;
}

/** Inputs beyond this are not grown further: the point is damage, not size. */
const MAX_MUTATED_BYTES = 1024 * 1024;

const EDGE_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0x100_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];
/** [high, low] words: all ones, 2^53, 2^53 - 1, and doubles +Inf, -Inf, NaN, -0, -1, 0.5. */
const EDGE_U64: readonly (readonly [number, number])[] = [
  [0xffff_ffff, 0xffff_ffff],
  [0x0020_0000, 0],
  [0x001f_ffff, 0xffff_ffff],
  [0x7ff0_0000, 0],
  [0xfff0_0000, 0],
  [0x7ff8_0000, 0],
  [0x8000_0000, 0],
  [0xbff0_0000, 0],
  [0x3fe0_0000, 0],
];

type ByteMutation =
  | { readonly op: "flip"; readonly at: number; readonly bit: number }
  | { readonly op: "set"; readonly at: number; readonly value: number }
  | { readonly op: "u32"; readonly at: number; readonly value: number; readonly littleEndian: boolean }
  | { readonly op: "u64"; readonly at: number; readonly words: readonly [number, number]; readonly littleEndian: boolean }
  | { readonly op: "cut"; readonly at: number }
  | { readonly op: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: "remove"; readonly at: number; readonly length: number }
  | { readonly op: "repeat"; readonly at: number; readonly length: number; readonly times: number }
  | { readonly op: "splice"; readonly at: number; readonly from: number };

const position = fc.nat();
/** Flips and single bytes weigh more: they keep more inputs decodable, so damage reaches deeper checks. */
const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant("flip" as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant("set" as const), at: position, value: fc.integer({ min: 0, max: 255 }) }), weight: 4 },
  fc.record({ op: fc.constant("u32" as const), at: position, value: fc.oneof(fc.constantFrom(...EDGE_U32), fc.integer({ min: 0, max: 0xffff_ffff })), littleEndian: fc.boolean() }),
  fc.record({ op: fc.constant("u64" as const), at: position, words: fc.constantFrom(...EDGE_U64), littleEndian: fc.boolean() }),
  fc.record({ op: fc.constant("cut" as const), at: position }),
  fc.record({ op: fc.constant("insert" as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant("remove" as const), at: position, length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant("repeat" as const), at: position, length: fc.integer({ min: 1, max: 64 }), times: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ op: fc.constant("splice" as const), at: position, from: position }),
);

/** One mutation half the time: an input with one thing wrong tests one check. */
function mutationList<M>(mutation: fc.Arbitrary<M>): fc.Arbitrary<M[]> {
  return fc.oneof(fc.array(mutation, { minLength: 1, maxLength: 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }));
}

export const byteMutator: Mutator<Buffer> = {
  mutations: mutationList(byteMutation),
  apply: (input, mutations, donor) => (mutations as readonly ByteMutation[]).reduce((bytes, mutation) => mutateBytes(bytes, mutation, donor), input),
};

/**
 * Half the time `inner`'s damage to the whole input; else to its payload,
 * sealed again (length and checksum made to match), so that only the checks
 * of the payload itself stand against it.
 */
export function resealingMutator(inner: Mutator<Buffer>, payloadOf: (input: Buffer) => Buffer, seal: (input: Buffer, payload: Buffer) => Buffer): Mutator<Buffer> {
  return {
    mutations: fc.tuple(fc.boolean(), inner.mutations),
    apply(input, mutations, donor) {
      const [insidePayload, innerMutations] = mutations as [boolean, readonly unknown[]];
      if (!insidePayload) return inner.apply(input, innerMutations, donor);
      return seal(input, inner.apply(payloadOf(input), innerMutations, payloadOf(donor)));
    },
  };
}

/** Any bytes, short ones most often (where the format's first fields sit). */
export function randomBytes(maxLength = 512): fc.Arbitrary<Buffer> {
  return fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength })).map((bytes) => Buffer.from(bytes));
}

function mutateBytes(input: Buffer, mutation: ByteMutation, donor: Buffer): Buffer {
  const at = mutation.at % (input.length + 1);
  const out = Buffer.from(input);
  switch (mutation.op) {
    case "flip":
      if (at < out.length) out[at]! ^= 1 << mutation.bit;
      return out;
    case "set":
      if (at < out.length) out[at] = mutation.value;
      return out;
    case "u32":
      return writeWords(out, at, [mutation.value], mutation.littleEndian);
    case "u64":
      return writeWords(out, at, mutation.littleEndian ? [mutation.words[1], mutation.words[0]] : [...mutation.words], mutation.littleEndian);
    case "cut":
      return out.subarray(0, at);
    case "insert":
      return Buffer.concat([out.subarray(0, at), mutation.bytes, out.subarray(at)]);
    case "remove":
      return Buffer.concat([out.subarray(0, at), out.subarray(at + mutation.length)]);
    case "repeat": {
      const slice = out.subarray(at, at + mutation.length);
      if (out.length + slice.length * mutation.times > MAX_MUTATED_BYTES) return out;
      return Buffer.concat([out.subarray(0, at), ...Array<Buffer>(mutation.times + 1).fill(slice), out.subarray(at + slice.length)]);
    }
    case "splice":
      return Buffer.concat([out.subarray(0, at), donor.subarray(mutation.from % (donor.length + 1))]);
  }
}

/** 32-bit words at `at` (moved back to fit when near the end; skipped when the input is shorter). */
function writeWords(out: Buffer, at: number, words: readonly number[], littleEndian: boolean): Buffer {
  const bytes = 4 * words.length;
  if (out.length < bytes) return out;
  const start = Math.min(at, out.length - bytes);
  words.forEach((word, i) => (littleEndian ? out.writeUInt32LE(word, start + 4 * i) : out.writeUInt32BE(word, start + 4 * i)));
  return out;
}

type JsonMutation =
  | { readonly op: "json replace"; readonly at: number; readonly value: fc.JsonValue }
  | { readonly op: "json delete"; readonly at: number }
  | { readonly op: "json add"; readonly at: number; readonly key: string; readonly value: fc.JsonValue };

const jsonValue = fc.jsonValue({ maxDepth: 2 });
const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  fc.record({ op: fc.constant("json replace" as const), at: position, value: jsonValue }),
  fc.record({ op: fc.constant("json delete" as const), at: position }),
  fc.record({ op: fc.constant("json add" as const), at: position, key: fc.oneof(fc.constantFrom("op", "peers", "learners", "peerId", "__proto__", "constructor"), fc.string({ maxLength: 8 })), value: jsonValue }),
);

/**
 * For JSON payloads: byte damage, and damage to the parsed value (a field
 * replaced by any JSON value, removed, or added) that keeps the text JSON, so
 * it reaches the field checks behind the parser.
 */
export const jsonMutator: Mutator<Buffer> = {
  mutations: mutationList(fc.oneof(byteMutation, jsonMutation)),
  apply: (input, mutations, donor) =>
    (mutations as readonly (ByteMutation | JsonMutation)[]).reduce((bytes, mutation) => (mutation.op.startsWith("json ") ? mutateJson(bytes, mutation as JsonMutation) : mutateBytes(bytes, mutation as ByteMutation, donor)), input),
};

function mutateJson(input: Buffer, mutation: JsonMutation): Buffer {
  let root: unknown;
  try {
    root = JSON.parse(input.toString("utf8"));
  } catch {
    return input; // damaged past parsing by an earlier mutation
  }
  const nodes: { parent: Record<string, unknown> | unknown[] | null; key: string | number; value: unknown }[] = [];
  const visit = (parent: Record<string, unknown> | unknown[] | null, key: string | number, value: unknown): void => {
    nodes.push({ parent, key, value });
    if (Array.isArray(value)) value.forEach((item, i) => visit(value, i, item));
    else if (value !== null && typeof value === "object") for (const [field, item] of Object.entries(value)) visit(value as Record<string, unknown>, field, item);
  };
  visit(null, "", root);
  const node = nodes[mutation.at % nodes.length]!;
  const set = (target: Record<string, unknown> | unknown[], key: string | number, value: unknown): void => {
    // defineProperty, not assignment: a "__proto__" key stays a plain field, as JSON.parse makes it.
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  };
  switch (mutation.op) {
    case "json replace":
      if (node.parent === null) root = mutation.value;
      else set(node.parent, node.key, mutation.value);
      break;
    case "json delete":
      if (Array.isArray(node.parent)) node.parent.splice(node.key as number, 1);
      else if (node.parent !== null) delete node.parent[node.key as string];
      break;
    case "json add":
      if (Array.isArray(node.value)) node.value.push(mutation.value);
      else if (node.value !== null && typeof node.value === "object") set(node.value as Record<string, unknown>, mutation.key, mutation.value);
      break;
  }
  return Buffer.from(JSON.stringify(root) ?? "", "utf8");
}

type TextMutation =
  | { readonly op: "insert"; readonly at: number; readonly token: string }
  | { readonly op: "replace"; readonly at: number; readonly length: number; readonly token: string }
  | { readonly op: "remove"; readonly at: number; readonly length: number }
  | { readonly op: "repeat"; readonly at: number; readonly length: number; readonly times: number }
  | { readonly op: "splice"; readonly at: number; readonly from: number };

/** Mutations of text formats; `tokens` are the format's own punctuation and words, the likeliest to confuse a parser. */
export function textMutator(tokens: readonly string[]): Mutator<string> {
  const token = fc.oneof(fc.constantFrom(...tokens), fc.string({ unit: "binary", maxLength: 8 }));
  const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
    fc.record({ op: fc.constant("insert" as const), at: position, token }),
    fc.record({ op: fc.constant("replace" as const), at: position, length: fc.integer({ min: 1, max: 8 }), token }),
    fc.record({ op: fc.constant("remove" as const), at: position, length: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ op: fc.constant("repeat" as const), at: position, length: fc.integer({ min: 1, max: 32 }), times: fc.integer({ min: 1, max: 300 }) }),
    fc.record({ op: fc.constant("splice" as const), at: position, from: position }),
  );
  return {
    mutations: mutationList(textMutation),
    apply: (input, mutations, donor) => (mutations as readonly TextMutation[]).reduce((text, mutation) => mutateText(text, mutation, donor), input),
  };
}

function mutateText(input: string, mutation: TextMutation, donor: string): string {
  const at = mutation.at % (input.length + 1);
  switch (mutation.op) {
    case "insert":
      return input.slice(0, at) + mutation.token + input.slice(at);
    case "replace":
      return input.slice(0, at) + mutation.token + input.slice(at + mutation.length);
    case "remove":
      return input.slice(0, at) + input.slice(at + mutation.length);
    case "repeat": {
      const slice = input.slice(at, at + mutation.length);
      if (input.length + slice.length * mutation.times > MAX_MUTATED_BYTES) return input;
      return input.slice(0, at) + slice.repeat(mutation.times + 1) + input.slice(at + slice.length);
    }
    case "splice":
      return input.slice(0, at) + donor.slice(mutation.from % (donor.length + 1));
  }
}
