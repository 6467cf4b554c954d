/**
 * Partition shapes, as the directed links they cut. The shapes follow the
 * classic nemeses: random halves, an isolated node (usually the leader), the
 * majorities ring (every node sees a majority, no two see the same one), a
 * bridge (two sides joined by one node that sees both), and a one-way cut.
 */
import type { NodeId } from "../core/types.js";
import type { SeededRandom } from "../core/random.js";

export type PartitionKind = "halves" | "isolate" | "ring" | "bridge" | "oneWay";
export const PARTITION_KINDS: readonly PartitionKind[] = ["halves", "isolate", "ring", "bridge", "oneWay"];

export interface Partition {
  readonly kind: PartitionKind;
  readonly description: string;
  readonly cut: ReadonlyArray<readonly [NodeId, NodeId]>;
}

function shuffled<T>(items: readonly T[], random: SeededRandom): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Cuts both directions between every node of `a` and every node of `b`. */
function cutBetween(a: readonly NodeId[], b: readonly NodeId[]): [NodeId, NodeId][] {
  const cut: [NodeId, NodeId][] = [];
  for (const x of a) for (const y of b) cut.push([x, y], [y, x]);
  return cut;
}

function group(ids: readonly NodeId[]): string {
  return `{${[...ids].sort().join(",")}}`;
}

export function halves(ids: readonly NodeId[], random: SeededRandom): Partition {
  const order = shuffled(ids, random);
  const size = 1 + random.nextInt(Math.max(1, Math.floor(order.length / 2)));
  const a = order.slice(0, size);
  const b = order.slice(size);
  return { kind: "halves", description: `${group(a)} | ${group(b)}`, cut: cutBetween(a, b) };
}

export function isolate(ids: readonly NodeId[], target: NodeId): Partition {
  const rest = ids.filter((id) => id !== target);
  return { kind: "isolate", description: `${target} alone | ${group(rest)}`, cut: cutBetween([target], rest) };
}

/** Each node keeps links to its nearest ring neighbours, enough to see a majority including itself. */
export function majoritiesRing(ids: readonly NodeId[], random: SeededRandom): Partition {
  const ring = shuffled(ids, random);
  const n = ring.length;
  const reach = Math.ceil(Math.floor(n / 2) / 2);
  const cut: [NodeId, NodeId][] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const distance = Math.min(Math.abs(i - j), n - Math.abs(i - j));
      if (distance > reach) cut.push([ring[i]!, ring[j]!]);
    }
  }
  return { kind: "ring", description: `ring ${ring.join("-")} (each sees ${reach} either side)`, cut };
}

export function bridge(ids: readonly NodeId[], random: SeededRandom): Partition {
  const order = shuffled(ids, random);
  const middle = order[0]!;
  const rest = order.slice(1);
  const half = Math.ceil(rest.length / 2);
  const a = rest.slice(0, half);
  const b = rest.slice(half);
  return { kind: "bridge", description: `${group(a)} | ${group(b)} bridged by ${middle}`, cut: cutBetween(a, b) };
}

/** `target` still sends but hears nothing (or the reverse): the asymmetric failure checkQuorum exists for. */
export function oneWay(ids: readonly NodeId[], target: NodeId, random: SeededRandom): Partition {
  const deaf = random.chance(0.5);
  const cut: [NodeId, NodeId][] = [];
  for (const other of ids) if (other !== target) cut.push(deaf ? [other, target] : [target, other]);
  return { kind: "oneWay", description: `${target} ${deaf ? "hears nobody" : "is heard by nobody"}`, cut };
}

export function makePartition(kind: PartitionKind, ids: readonly NodeId[], leader: NodeId | null, random: SeededRandom): Partition {
  const target = leader ?? random.pick(ids);
  switch (kind) {
    case "halves":
      return halves(ids, random);
    case "isolate":
      return isolate(ids, target);
    case "ring":
      return majoritiesRing(ids, random);
    case "bridge":
      return bridge(ids, random);
    case "oneWay":
      return oneWay(ids, target, random);
  }
}
