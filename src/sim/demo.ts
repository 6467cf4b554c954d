/**
 * `tsraft demo`: one simulated 3-node cluster told as a story. A leader is
 * elected, commands commit, the leader is cut off and replaced, the partition
 * heals, a follower crashes, misses enough to need a snapshot, and catches up.
 * Every checker runs throughout, as in `tsraft sim`.
 */
import { SeededRandom } from "../core/random.js";
import { Violation } from "./checkers/violation.js";
import { Clients } from "./clients.js";
import { Cluster } from "./cluster.js";
import { isolate } from "./partitions.js";
import { asViolation } from "./run-seed.js";
import { ELECTION_TICKS, HEARTBEAT_TICKS, TICK_MS } from "./scenario.js";
import type { SimNode } from "./sim-node.js";

export interface DemoResult {
  ok: boolean;
  violation: { kind: string; message: string } | null;
  /** The recent trace, on failure. */
  trace: string[];
}

const DEMO_SEED = 2024;

export function runDemo(say: (line: string) => void, seed = DEMO_SEED): DemoResult {
  const random = new SeededRandom(seed);
  const cluster = new Cluster({
    random: random.fork(),
    nodeCount: 3,
    spareCount: 0,
    tickMs: TICK_MS,
    tickJitterMs: 1,
    coreOptions: { electionTicks: ELECTION_TICKS, heartbeatTicks: HEARTBEAT_TICKS },
    network: { minDelayMs: 1, maxDelayMs: 5, slowChance: 0, slowExtraMs: 0, lossRate: 0, duplicateRate: 0, fifo: true },
    maxDiskDelayMs: 2,
    snapshotEveryEntries: 20,
    pipelineSends: true,
    traceSink: null,
    maxSteps: 1_000_000,
  });
  const clients = new Clients(cluster, random.fork(), "demo");
  const at = (): string => `${(cluster.queue.nowMs / 1000).toFixed(2).padStart(6)} s`;
  const tell = (text: string): void => say(`${at()}  ${text}`);
  const leading = new Set<string>();
  cluster.trace.onNote((_timeMs, nodeId, text) => {
    const leader = /^becomes leader in term (\d+)/.exec(text);
    if (leader) {
      leading.add(nodeId);
      tell(`${nodeId} is elected leader of term ${leader[1]}`);
    } else if ((text.startsWith("becomes") || text === "crash") && leading.delete(nodeId)) {
      if (text !== "crash") tell(`${nodeId} steps down: ${text.slice("becomes ".length)}`);
    } else if (text.startsWith("install snapshot")) tell(`${nodeId} installs a snapshot from the leader (${text.slice("install snapshot ".length)})`);
    else if (/^start #[2-9]/.test(text)) tell(`${nodeId} restarts from its disk: ${text.replace(/^start #\d+: /, "")}`);
  });
  const acked = new Map<string, number>();
  cluster.onAck((_node, label, index) => acked.set(label, index));

  const runUntil = (what: string, done: () => boolean, withinMs: number): void => {
    if (!cluster.runUntilOr(done, cluster.queue.nowMs + withinMs)) throw new Violation("liveness", `demo: ${what} did not happen within ${withinMs} ms`);
  };
  const leaderNow = (): SimNode => {
    runUntil("a leader election", () => cluster.leader() !== null, 3000);
    return cluster.leader()!;
  };
  const commit = (commands: string[]): void => {
    const leader = leaderNow();
    const labels: string[] = [];
    for (const command of commands) {
      const proposed = clients.propose(leader, command);
      if (proposed) labels.push(proposed.label);
    }
    runUntil(`commit of ${labels.join(", ")}`, () => labels.every((label) => acked.has(label)), 3000);
    const indexes = labels.map((label) => acked.get(label)!);
    const what = labels.length === 1 ? `"${labels[0]}" at index ${indexes[0]}` : `${labels.length} commands ("${labels[0]}" .. "${labels[labels.length - 1]}") at indexes ${Math.min(...indexes)}..${Math.max(...indexes)}`;
    tell(`${leader.id} commits ${what}`);
  };

  try {
    say("tsraft demo: three simulated nodes n1, n2, n3; 10 ms ticks, elections after 100-200 ms of silence");
    cluster.start();
    const first = leaderNow();
    commit(["set x=1", "set y=2", "set z=3", "incr x", "del y"]);

    tell(`partition: ${first.id} is cut off from the others`);
    cluster.partition(isolate(cluster.ids, first.id));
    const stranded = clients.propose(first, "set stranded=1");
    if (stranded) tell(`${first.id} still believes it leads and accepts "set stranded=1" at index ${stranded.index}; it cannot commit it`);
    runUntil("a new leader", () => cluster.leader() !== null && cluster.leader() !== first, 3000);
    commit(["set x=10", "set w=4", "incr w"]);

    tell("the partition heals");
    cluster.heal();
    runUntil(`${first.id} catching up`, () => first.stateMachine.applied >= cluster.leader()!.stateMachine.applied, 3000);
    if (stranded && !acked.has(stranded.label)) tell(`${first.id} has replaced its uncommitted entry at index ${stranded.index} with the new leader's; "set stranded=1" was never acknowledged`);

    const leader = leaderNow();
    const victim = cluster.ids.find((id) => id !== leader.id && id !== first.id) ?? cluster.ids.find((id) => id !== leader.id)!;
    tell(`${victim} crashes`);
    cluster.crash(victim);
    const many: string[] = [];
    for (let i = 1; i <= 15; i++) many.push(`append log=${i}`);
    commit(many);
    tell(`${leader.id} has compacted its log into a snapshot at ${leader.log.snapshotMeta().index}; ${victim} will need it`);
    cluster.restart(victim);
    runUntil(`${victim} catching up`, () => cluster.node(victim).stateMachine.applied >= leader.stateMachine.applied, 3000);
    commit(["set done=1"]);
    runUntil("every node applying everything", () => converged(cluster), 3000);

    say("");
    say("final state:");
    for (const node of cluster.allNodes()) {
      const s = node.core!.status();
      say(`  ${node.id}  ${s.role.padEnd(8)}  term ${s.term}  commit ${s.commit}  applied ${node.stateMachine.applied}  commands ${node.stateMachine.commandCount}  state ${node.stateMachine.stateHash.toString(16)}`);
    }
    say(`all checkers passed: ${cluster.safety.leadersSeen} leaders, ${cluster.reads.writesAcked} acknowledged writes, ${cluster.network.stats.sent} messages`);
    return { ok: true, violation: null, trace: [] };
  } catch (error) {
    const violation = asViolation(error);
    return { ok: false, violation: { kind: violation.kind, message: violation.message }, trace: cluster.trace.recent() };
  }
}

function converged(cluster: Cluster): boolean {
  const nodes = cluster.allNodes();
  const first = nodes[0]!.stateMachine;
  return nodes.every((n) => n.isUp && n.stateMachine.applied === first.applied && n.stateMachine.stateHash === first.stateHash);
}
