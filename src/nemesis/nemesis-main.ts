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
  .addOption(new Option("--nemesis <name>", "the fault to inject, or mixed for all of them").choices(NEMESIS_NAMES).default("mixed"))
  .addOption(new Option("--nodes <n>", "servers in the cluster").choices(["3", "5"]).default("3"))
  .option("--seed <n>", "seed of the fault schedule and the clients' choices (default: random)", wholeNumberFlag("--seed", 0, 2 ** 32 - 1))
  .option("--calm <seconds>", "calm before each fault", wholeNumberFlag("--calm", 1, 3600), 3)
  .option("--fault <seconds>", "how long each fault lasts", wholeNumberFlag("--fault", 1, 3600), 5)
  .option("--election-timeout-ms <ms>", "the servers' election timeout", wholeNumberFlag("--election-timeout-ms", 100, 60_000), 1000)
  .option("--keep", "keep the run's folder (data, servers.log, history.json) even when the run passes")
  .showHelpAfterError()
  .exitOverride((error: CommanderError) => process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE))
  .option("--runs <n>", "runs one after another, each on a fresh cluster with the next seed", wholeNumberFlag("--runs", 1, 10_000), 1)
  .action(async (flags: Flags) => {
    const firstSeed = flags.seed ?? Math.floor(Math.random() * 2 ** 32);
    let failed = 0;
    for (let run = 0; run < flags.runs; run++) {
      if (!(await runOnce(flags, (firstSeed + run) % 2 ** 32))) failed++;
    }
    if (flags.runs > 1) process.stderr.write(`${flags.runs - failed} of ${flags.runs} runs passed\n`);
    if (failed > 0) process.exitCode = EXIT_FAILED;
  });

/** One run on a fresh cluster; prints its JSON line and says whether the history checked out. */
async function runOnce(flags: Flags, seed: number): Promise<boolean> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-nemesis-"));
  const log = (line: string): void => void process.stderr.write(`[nemesis ${(performance.now() / 1000).toFixed(1)}s] ${line}\n`);
  log(`${flags.nemesis} on ${flags.nodes} servers for ${flags.time} s, seed ${seed}; run folder ${root}`);
  let outcome: Awaited<ReturnType<typeof runNemesis>>;
  try {
    outcome = await runNemesis({
      nemesis: flags.nemesis,
      nodes: Number(flags.nodes),
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
    process.stdout.write(`${JSON.stringify({ nemesis: flags.nemesis, nodes: Number(flags.nodes), seed, error: error instanceof Error ? error.message : String(error) })}\n`);
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
