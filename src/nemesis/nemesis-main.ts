/**
 * `npm run nemesis -- --time 60 --nemesis mixed [--nodes 3|5] [--seed N] [--runs N]`:
 * nemesis runs against real processes on loopback (see run-nemesis.ts).
 * Progress goes to stderr; each run prints one JSON line to stdout. Exit 0
 * when every history checks out, 1 when one does not (that run's folder is
 * kept, with the servers' log and the history), 2 for bad usage.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, Option, type CommanderError } from "commander";
import { wholeNumberFlag } from "../bin/flag-parser.js";
import { NEMESIS_NAMES } from "./nemeses.js";
import { runNemesis } from "./run-nemesis.js";

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
/** With three servers a majorities ring cuts nothing and a bridge is one cut link. */
const FIVE_SERVER_NEMESES = new Set(["partition-ring", "partition-bridge"]);

interface Flags {
  time: number;
  nemesis: string;
  nodes: string;
  seed: number;
  calm: number;
  fault: number;
  electionTimeoutMs: number;
  keep?: boolean;
  runs: number;
}

const program = new Command("nemesis")
  .description("break a real tsraft KV cluster on purpose while clients run, then check their history")
  .option("--time <seconds>", "how long the clients run", wholeNumberFlag("--time", 5, 24 * 3600), 60)
  .addOption(new Option("--nemesis <name>", "the fault to inject; mixed: one of them at random per fault; all: a run of each in turn").choices([...NEMESIS_NAMES, "all"]).default("mixed"))
  .addOption(new Option("--nodes <n>", "servers in the cluster").choices(["3", "5"]).default("3"))
  .option("--seed <n>", "seed of the fault schedule and the clients' choices (default: random)", wholeNumberFlag("--seed", 0, 2 ** 32 - 1))
  .option("--calm <seconds>", "calm before each fault", wholeNumberFlag("--calm", 1, 3600), 3)
  .option("--fault <seconds>", "how long each fault lasts", wholeNumberFlag("--fault", 1, 3600), 5)
  .option("--election-timeout-ms <ms>", "the servers' election timeout", wholeNumberFlag("--election-timeout-ms", 100, 60_000), 1000)
  .option("--keep", "keep the run's folder (data, servers.log, history.json) even when the run passes")
  .option("--runs <n>", "runs of each nemesis, one after another, each on a fresh cluster with the next seed", wholeNumberFlag("--runs", 1, 10_000), 1)
  .showHelpAfterError()
  .exitOverride((error: CommanderError) => process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE))
  .action(async (flags: Flags) => {
    const firstSeed = flags.seed ?? Math.floor(Math.random() * 2 ** 32);
    const names = flags.nemesis === "all" ? NEMESIS_NAMES : [flags.nemesis];
    const passed = new Map(names.map((name) => [name, 0]));
    let seed = firstSeed;
    for (let run = 0; run < flags.runs; run++) {
      for (const name of names) {
        // Under "all", the partitions that need five servers to mean anything get five.
        const nodes = flags.nemesis === "all" && FIVE_SERVER_NEMESES.has(name) ? 5 : Number(flags.nodes);
        if (await runOnce(flags, name, nodes, seed)) passed.set(name, passed.get(name)! + 1);
        seed = (seed + 1) % 2 ** 32;
      }
    }
    const failed = [...passed.values()].filter((count) => count < flags.runs).length;
    if (flags.runs * names.length > 1) {
      process.stderr.write(`passed: ${[...passed].map(([name, count]) => `${name} ${count}/${flags.runs}`).join(", ")}\n`);
    }
    if (failed > 0) process.exitCode = EXIT_FAILED;
  });

/** One run on a fresh cluster; prints its JSON line and says whether the history checked out. */
async function runOnce(flags: Flags, nemesis: string, nodes: number, seed: number): Promise<boolean> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-nemesis-"));
  const log = (line: string): void => void process.stderr.write(`[nemesis ${(performance.now() / 1000).toFixed(1)}s] ${line}\n`);
  log(`${nemesis} on ${nodes} servers for ${flags.time} s, seed ${seed}; run folder ${root}`);
  let outcome: Awaited<ReturnType<typeof runNemesis>>;
  try {
    outcome = await runNemesis({
      nemesis,
      nodes,
      seconds: flags.time,
      seed,
      root,
      electionTimeoutMs: flags.electionTimeoutMs,
      calmSeconds: flags.calm,
      faultSeconds: flags.fault,
      log,
    });
  } catch (error) {
    // The cluster did not come up or did not recover: a finding too, and the next run goes on.
    log(`PROBLEM: the run stopped: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    log(`kept ${root} (servers.log); --seed ${seed} picks the same faults again`);
    process.stdout.write(`${JSON.stringify({ nemesis, nodes, seed, error: error instanceof Error ? error.message : String(error) })}\n`);
    return false;
  }
  const { summary, problems } = outcome;
  for (const problem of problems) log(`PROBLEM: ${problem}`);
  if (problems.length > 0) {
    log(`kept ${root} (servers.log, history.json); --seed ${seed} picks the same faults again`);
  } else if (flags.keep === true) {
    log(`kept ${root}`);
  } else {
    await rm(root, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return problems.length === 0;
}

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`nemesis: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = EXIT_FAILED;
});
