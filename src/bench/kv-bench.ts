/**
 * `npm run bench`: the replicated KV store under load, beside etcd on the same
 * machine in the same run. For each system, a fresh three-process cluster on
 * loopback with fsync on is loaded with 100,000 keys of 16 bytes and 256-byte
 * values; then, after a warm-up, put is measured with 1, 16 and 256 requests in
 * flight and linearizable get with 256. Each phase prints ops/s, p50/p99/p99.9
 * latency and the CPU of the client and of the servers. Right before and right
 * after put with 1 in flight it measures the replication floor (kv/floor.ts),
 * the same round trip without Raft: this machine's flush time drifts by minutes,
 * so only a floor taken beside the phase says what the phase could have cost.
 * The last line is tsraft's figures as JSON: {"put":{"1":R,"16":R,"256":R},"get":{"256":R}}.
 * With --no-sync, tsraft and the floor run without fdatasync: the difference
 * from a run with it is what the flushes cost, the rest is the software path.
 * --phases picks phases (the JSON then holds only those); --cpu-prof DIR writes
 * V8 CPU profiles of tsraft's servers and client and names their top functions.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { wholeNumberFlag } from "../bin/flag-parser.js";
import { profileThisProcess, profilesIn, summarizeProfile } from "./kv/cpu-profile.js";
import { etcdInstalled, startEtcd } from "./kv/etcd-cluster.js";
import { measureFloor, type FloorResult } from "./kv/floor.js";
import { load, runPhase, type KvDriver, type Phase, type PhaseResult } from "./kv/load-generator.js";
import { startTsraft } from "./kv/tsraft-cluster.js";
import { workloadOf, type Workload } from "./kv/workload.js";

const LOAD_IN_FLIGHT = 256;
/** Every key is made up front as a Buffer: ten million take 1.3 GB in the bench process alone. */
const MAX_KEYS = 10_000_000;
/** About one put's append frame from leader to follower (key, value, session fields, framing). */
const FLOOR_MESSAGE_BYTES = 432;
/** From --base-port: the floor's three processes, then tsraft's three servers, then etcd's three members (a client and a peer port each). */
const FLOOR_PORT_OFFSET = 0;
const TSRAFT_PORT_OFFSET = 3;
const ETCD_PORT_OFFSET = 6;
const PORTS_USED = 12;
const PHASES: readonly Pick<Phase, "op" | "inFlight">[] = [
  { op: "put", inFlight: 1 },
  { op: "put", inFlight: 16 },
  { op: "put", inFlight: 256 },
  { op: "get", inFlight: 256 },
];
const phaseName = (phase: Pick<Phase, "op" | "inFlight">): string => `${phase.op}@${phase.inFlight}`;
/** Functions named per profiled process. */
const PROFILE_TOP_FUNCTIONS = 15;

type Figures = { put: Record<string, PhaseResult>; get: Record<string, PhaseResult> };

interface Args {
  readonly keys: number;
  readonly warmupSecs: number;
  readonly durationSecs: number;
  readonly systems: readonly ("tsraft" | "etcd")[];
  readonly basePort: number;
  readonly sync: boolean;
  readonly phases: readonly Pick<Phase, "op" | "inFlight">[];
  /** Where the CPU profiles go, or null for none. */
  readonly cpuProf: string | null;
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value)) throw new InvalidArgumentError(`expected a positive number, got "${text}"`);
  return value;
}

function systemsFlag(text: string): ("tsraft" | "etcd")[] {
  const systems = text.split(",").map((s) => s.trim());
  for (const system of systems) if (system !== "tsraft" && system !== "etcd") throw new InvalidArgumentError(`unknown system "${system}"; expected tsraft, etcd or both (tsraft,etcd)`);
  return systems as ("tsraft" | "etcd")[];
}

function phasesFlag(text: string): Pick<Phase, "op" | "inFlight">[] {
  const names = text.split(",").map((s) => s.trim());
  const known = PHASES.map(phaseName);
  for (const name of names) if (!known.includes(name)) throw new InvalidArgumentError(`unknown phase "${name}"; expected some of ${known.join(",")}`);
  return PHASES.filter((phase) => names.includes(phaseName(phase)));
}

function parseArgs(): Args {
  const program = new Command("kv-bench")
    .description("the KV store under load, beside etcd")
    .option("--keys <n>", "keys loaded before measuring", wholeNumberFlag("--keys", 1, MAX_KEYS), 100_000)
    .option("--warmup-secs <s>", "warm-up of each phase", positiveNumber, 2)
    .option("--duration-secs <s>", "measured window of each phase", positiveNumber, 10)
    .option("--systems <list>", "tsraft, etcd, or tsraft,etcd (default: both when etcd is installed)", systemsFlag)
    .option("--base-port <port>", `the first of the ${PORTS_USED} loopback ports the bench listens on`, wholeNumberFlag("--base-port", 1024, 65536 - PORTS_USED), 19170)
    .option("--no-sync", "tsraft and the floor without fdatasync, to tell the flushes' cost from the software's (tsraft only)")
    .option("--phases <list>", `the phases measured, some of ${PHASES.map(phaseName).join(",")}`, phasesFlag, [...PHASES])
    .option("--cpu-prof <dir>", "write V8 CPU profiles of tsraft's servers and client into this new folder, and name their top functions (tsraft only)")
    .parse();
  const parsed = program.opts<{ keys: number; warmupSecs: number; durationSecs: number; systems?: ("tsraft" | "etcd")[]; basePort: number; sync: boolean; phases: Pick<Phase, "op" | "inFlight">[]; cpuProf?: string }>();
  const options = { ...parsed, cpuProf: parsed.cpuProf ?? null };
  const withEtcd = options.systems?.includes("etcd") ?? false;
  if (options.cpuProf !== null && withEtcd) throw new Error("--cpu-prof profiles tsraft only: give --systems tsraft or drop --cpu-prof");
  if (!options.sync && withEtcd) throw new Error("--no-sync measures tsraft only (etcd 3.4 has no such switch): give --systems tsraft or drop --no-sync");
  if (!options.sync) console.log("--no-sync: tsraft and the floor do not fdatasync; a crash could lose acknowledged writes, and the figures are not comparable with etcd's");
  if (!options.sync || options.cpuProf !== null) return { ...options, systems: ["tsraft"] };
  const installed = etcdInstalled();
  if (withEtcd && !installed) throw new Error("etcd is not installed: apt-get install etcd-server etcd-client (or --systems tsraft)");
  if (options.systems === undefined && !installed) console.log("etcd is not installed (apt-get install etcd-server etcd-client): measuring tsraft alone");
  return { ...options, systems: options.systems ?? (installed ? ["tsraft", "etcd"] : ["tsraft"]) };
}

async function measure(driver: KvDriver, workload: Workload, args: Args): Promise<Figures> {
  const loadStartMs = performance.now();
  await load(driver, workload, LOAD_IN_FLIGHT);
  console.log(`${driver.name}: loaded ${workload.keyCount} keys in ${((performance.now() - loadStartMs) / 1000).toFixed(1)} s`);
  const figures: Figures = { put: {}, get: {} };
  for (const phase of args.phases) {
    const besideFloor = phase.inFlight === 1;
    const floorBefore = besideFloor ? await floor(args) : null;
    const result = await runPhase(driver, workload, { ...phase, warmupMs: args.warmupSecs * 1000, measureMs: args.durationSecs * 1000 });
    figures[phase.op][String(phase.inFlight)] = result;
    console.log(
      `${driver.name}: ${phase.op} with ${String(phase.inFlight).padStart(3)} in flight: ${result.opsPerSec} ops/s, ` +
        `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, p99.9 ${result.p999Ms} ms; CPU client ${result.clientCpuPct}%, servers ${result.serverCpuPct}%`,
    );
    if (floorBefore !== null) {
      const floorAfter = await floor(args);
      console.log(
        `${driver.name}: floor beside put with 1 in flight: p50 ${floorBefore.p50Ms} ms before, ${floorAfter.p50Ms} ms after ` +
          `(p99 ${floorBefore.p99Ms} and ${floorAfter.p99Ms} ms); the put cannot go below it`,
      );
    }
  }
  return figures;
}

/** One write of an append's size replicated without Raft (client, leader and two followers as processes, each flushing its file unless --no-sync). */
function floor(args: Args): Promise<FloorResult> {
  return measureFloor(args.basePort + FLOOR_PORT_OFFSET, FLOOR_MESSAGE_BYTES, args.warmupSecs * 1000, args.durationSecs * 1000, args.sync);
}

async function main(): Promise<void> {
  const args = parseArgs();
  const workload = workloadOf(args.keys);
  const results = new Map<string, Figures>();
  if (args.cpuProf !== null) await newFolder(args.cpuProf);
  const stopClientProfile = args.cpuProf === null ? null : await profileThisProcess(join(args.cpuProf, "client.cpuprofile"));
  for (const system of args.systems) {
    const driver =
      system === "tsraft"
        ? await startTsraft(args.basePort + TSRAFT_PORT_OFFSET, { sync: args.sync, cpuProfDir: args.cpuProf })
        : await startEtcd(args.basePort + ETCD_PORT_OFFSET);
    try {
      results.set(system, await measure(driver, workload, args));
    } finally {
      await driver.close();
    }
  }
  if (stopClientProfile !== null) {
    await stopClientProfile();
    await printProfiles(args.cpuProf!);
  }
  const etcd = results.get("etcd");
  if (etcd !== undefined) console.log(`etcd ${JSON.stringify(etcd)}`);
  const tsraft = results.get("tsraft");
  if (tsraft !== undefined) console.log(JSON.stringify(tsraft));
}

/** A new folder, so that the profiles of two runs are never mixed. */
async function newFolder(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === "EEXIST" ? `--cpu-prof ${path}: the folder exists; give a new one` : `--cpu-prof ${path}: cannot create the folder (${String(error)})`);
  }
}

/** Each profile's top functions: the servers' are written as they exit, the client's just before. */
async function printProfiles(dir: string): Promise<void> {
  for (const path of await profilesIn(dir)) {
    console.log(`CPU profile ${path}, top functions by self time:`);
    for (const line of await summarizeProfile(path, PROFILE_TOP_FUNCTIONS)) console.log(`  ${line}`);
  }
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
