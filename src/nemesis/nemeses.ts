/**
 * The faults a nemesis run injects, one per cycle. Each returns what it did
 * and how to undo it; the runner then also heals the whole cluster (restarts,
 * links, disks), so an undo only needs what heal() cannot know, such as
 * adding a removed member back.
 */
import type { SeededRandom } from "../core/random.js";
import type { NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import type { NemesisCluster } from "./nemesis-cluster.js";

export interface Fault {
  readonly description: string;
  undo(): Promise<void>;
}

export type Nemesis = (cluster: NemesisCluster, random: SeededRandom) => Promise<Fault>;

type Link = readonly [NodeId, NodeId];

const kill = (target: (cluster: NemesisCluster, random: SeededRandom) => Promise<NodeId>): Nemesis => async (cluster, random) => {
  const victim = await target(cluster, random);
  await cluster.kill(victim);
  return { description: `kill -9 ${victim}`, undo: () => cluster.restart(victim) };
};

const partition = (name: string, linksToCut: (cluster: NemesisCluster, random: SeededRandom, leader: NodeId | null) => Link[]): Nemesis => async (cluster, random) => {
  const links = linksToCut(cluster, random, await cluster.leader());
  cluster.cutLinks(links);
  return { description: `${name}: cut ${links.map(([a, b]) => `${port(a)}-${port(b)}`).join(" ") || "nothing"}`, undo: async () => cluster.cutLinks([]) };
};

export const NEMESES: Readonly<Record<string, Nemesis>> = {
  "kill-random": kill(async (cluster, random) => pick(random, cluster.ids)),
  "kill-leader": kill(leaderOrAny),
  "pause-leader": async (cluster, random) => {
    const victim = await leaderOrAny(cluster, random);
    cluster.pause(victim);
    return { description: `SIGSTOP ${victim}`, undo: async () => cluster.resume(victim) };
  },
  "partition-halves": partition("random halves", (cluster, random) => {
    const shuffled = shuffle(random, cluster.ids);
    const half = Math.floor(shuffled.length / 2);
    return linksBetween(shuffled.slice(0, half), shuffled.slice(half));
  }),
  "partition-leader": partition("isolated leader", (cluster, random, leader) => {
    const isolated = leader ?? pick(random, cluster.ids);
    return linksBetween([isolated], cluster.ids.filter((id) => id !== isolated));
  }),
  "partition-ring": partition("majorities ring", (cluster, random) => majoritiesRing(shuffle(random, cluster.ids))),
  "partition-bridge": partition("bridge", (cluster, random) => {
    // Two halves that see only the node left out of both, the bridge.
    const rest = shuffle(random, cluster.ids).slice(1);
    const half = Math.ceil(rest.length / 2);
    return linksBetween(rest.slice(0, half), rest.slice(half));
  }),
  "slow-disk": async (cluster, random) => {
    const victim = random.chance(0.5) ? await leaderOrAny(cluster, random) : pick(random, cluster.ids);
    const delayMs = 50 + random.nextInt(450);
    cluster.slowSync(victim, delayMs);
    return { description: `every fdatasync of ${victim} waits ${delayMs} ms`, undo: async () => cluster.slowSync(victim, 0) };
  },
  membership: async (cluster, random) => {
    const victim = random.chance(0.3) ? await leaderOrAny(cluster, random) : pick(random, cluster.ids);
    let outcome = "removed";
    try {
      await cluster.cli.removePeer(cluster.groupId, cluster.conf, victim);
    } catch (error) {
      if (!(error instanceof RaftError)) throw error;
      outcome = `remove failed with ${error.code}, may still happen`;
    }
    return { description: `remove-peer ${victim} (${outcome})`, undo: () => restoreMembership(cluster) };
  },
};

export const NEMESIS_NAMES = [...Object.keys(NEMESES), "mixed"];

/** The nemesis of one cycle: the named one, or for "mixed" any of them. */
export function nemesisFor(name: string, random: SeededRandom): { name: string; nemesis: Nemesis } {
  const chosen = name === "mixed" ? pick(random, Object.keys(NEMESES)) : name;
  const nemesis = NEMESES[chosen];
  if (nemesis === undefined) throw new RaftError("EINVAL", `unknown nemesis "${name}": choose one of ${NEMESIS_NAMES.join(", ")}`);
  return { name: chosen, nemesis };
}

/** Adds every server that is not a voter back, until the configuration holds them all. */
export async function restoreMembership(cluster: NemesisCluster, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const peers = await cluster.cli.getPeers(cluster.groupId, cluster.conf);
      const missing = cluster.ids.filter((id) => !peers.includes(id));
      if (missing.length === 0) return;
      await cluster.cli.addPeer(cluster.groupId, cluster.conf, missing[0]!);
    } catch (error) {
      if (!(error instanceof RaftError)) throw error;
      if (Date.now() > deadline) throw new RaftError("ETIMEDOUT", `could not add the removed servers back within ${timeoutMs} ms: ${error.message}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function leaderOrAny(cluster: NemesisCluster, random: SeededRandom): Promise<NodeId> {
  return (await cluster.leader()) ?? pick(random, cluster.ids);
}

function linksBetween(a: readonly NodeId[], b: readonly NodeId[]): Link[] {
  return a.flatMap((x) => b.map((y): Link => [x, y]));
}

/**
 * Servers on a ring, each linked to its nearest neighbours, just enough of
 * them that each sees a majority, and no two see the same one. With three
 * servers everyone is a neighbour and nothing is cut.
 */
function majoritiesRing(ring: readonly NodeId[]): Link[] {
  const n = ring.length;
  const reach = Math.ceil(Math.floor(n / 2) / 2);
  const links: Link[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const distance = Math.min(j - i, n - (j - i));
      if (distance > reach) links.push([ring[i]!, ring[j]!]);
    }
  }
  return links;
}

function pick<T>(random: SeededRandom, items: readonly T[]): T {
  return items[random.nextInt(items.length)]!;
}

function shuffle<T>(random: SeededRandom, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

function port(id: NodeId): string {
  return id.slice(id.lastIndexOf(":") + 1);
}
