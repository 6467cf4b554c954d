#!/usr/bin/env node
/**
 * The `tsraft` command: `sim` (the deterministic simulator over many seeds, or
 * one seed replayed with its trace), `demo` (a told story of a simulated
 * 3-node cluster), `admin` (membership and leadership of a running group, see
 * admin-command.ts), `serve` (a KV server, serve-command.ts) and `kv` (the KV
 * store from the command line, kv-command.ts). Exit codes: 0 ok, 1 a violation
 * or a failed operation, 2 bad usage.
 */
import { availableParallelism } from "node:os";
import { Command, InvalidArgumentError, type CommanderError } from "commander";
import { addAdminCommand } from "./admin-command.js";
import { addKvCommand } from "./kv-command.js";
import { addServeCommand } from "./serve-command.js";
import { DEFAULT_FAULT_TICKS, runDemo, runSeed, runSeeds, type SeedResult, type SeedsSummary } from "../sim/index.js";

const EXIT_VIOLATION = 1;
const EXIT_USAGE = 2;
const PROGRESS_EVERY_MS = 2000;
const TRACE_TAIL_LINES = 150;
/** Failing seeds reported one by one; beyond this only the count (the JSON line has the first). */
const MAX_REPORTED_FAILURES = 50;

function integer(what: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${what} must be a whole number, got "${value}".`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${what} must be between ${min} and ${max}, got ${value}.`);
    return n;
  };
}

function nodeCount(value: string): number {
  const n = integer("--nodes", 3, 7)(value);
  if (n !== 3 && n !== 5 && n !== 7) throw new InvalidArgumentError(`--nodes must be 3, 5 or 7, got ${value}.`);
  return n;
}

interface SimFlags {
  seeds?: number;
  start?: number;
  seed?: number;
  nodes?: number;
  ticks: number;
  workers: number;
  trace?: boolean;
}

function printJson(summary: Pick<SeedsSummary, "seeds" | "violations" | "steps" | "firstFailingSeed">): void {
  process.stdout.write(`${JSON.stringify({ seeds: summary.seeds, violations: summary.violations, steps: summary.steps, firstFailingSeed: summary.firstFailingSeed })}\n`);
}

function replayCommand(seed: number, flags: SimFlags): string {
  const nodes = flags.nodes !== undefined ? ` --nodes ${flags.nodes}` : "";
  const ticks = flags.ticks !== DEFAULT_FAULT_TICKS ? ` --ticks ${flags.ticks}` : "";
  return `tsraft sim --seed ${seed}${nodes}${ticks} --trace`;
}

function reportFailure(result: SeedResult, flags: SimFlags, withTrace: boolean): void {
  const v = result.violation!;
  process.stderr.write(`\nVIOLATION in seed ${result.seed} (${result.summary.nodes} nodes): ${v.message}\n`);
  if (withTrace && result.trace.length > 0) {
    process.stderr.write(`recent events of seed ${result.seed}:\n${result.trace.slice(-TRACE_TAIL_LINES).join("\n")}\n`);
  }
  process.stderr.write(`replay: ${replayCommand(result.seed, flags)}\n`);
}

async function sim(flags: SimFlags, command: Command): Promise<void> {
  if (flags.seed !== undefined && (flags.seeds !== undefined || flags.start !== undefined)) {
    command.error("error: --seed replays one seed; it cannot be combined with --seeds or --start.", { exitCode: EXIT_USAGE });
  }
  if (flags.seed === undefined && flags.seeds === undefined) {
    command.error("error: give --seeds N to run N seeds, or --seed S to replay one (see tsraft sim --help).", { exitCode: EXIT_USAGE });
  }
  if (flags.trace && flags.seed === undefined) {
    command.error("error: --trace prints one run; use it with --seed S.", { exitCode: EXIT_USAGE });
  }
  const runOptions = { faultTicks: flags.ticks, ...(flags.nodes !== undefined ? { nodes: flags.nodes } : {}) };

  if (flags.seed !== undefined) {
    const result = runSeed(flags.seed, { ...runOptions, ...(flags.trace ? { trace: (line: string) => process.stdout.write(`${line}\n`) } : {}) });
    const s = result.summary;
    process.stderr.write(
      `seed ${result.seed}: ${result.ok ? "ok" : "VIOLATION"}; ${s.nodes} nodes, ${result.steps} steps, ${s.virtualMs} ms virtual, ` +
        `${s.leaders} leaders, commit ${s.highestCommitted}, ${s.writesAcked} writes acked, ${s.readsServed} reads served, ` +
        `${s.crashes} crashes, ${s.partitions} partitions, ${s.confChanges} membership changes committed` +
        (result.ok ? `, recovered in ${s.recoveryMs} ms\n` : "\n"),
    );
    if (!result.ok) reportFailure(result, flags, !flags.trace);
    printJson({ seeds: 1, violations: result.ok ? 0 : 1, steps: result.steps, firstFailingSeed: result.ok ? null : result.seed });
    process.exitCode = result.ok ? 0 : EXIT_VIOLATION;
    return;
  }

  const count = flags.seeds!;
  const start = flags.start ?? 0;
  const startedMs = Date.now();
  let lastProgressMs = startedMs;
  let reportedFailures = 0;
  process.stderr.write(`sim: seeds ${start}..${start + count - 1}, ${flags.workers} worker(s)\n`);
  const summary = await runSeeds({
    ...runOptions,
    count,
    start,
    workers: flags.workers,
    onProgress: (done, violations) => {
      const now = Date.now();
      if (now - lastProgressMs < PROGRESS_EVERY_MS && done < count) return;
      lastProgressMs = now;
      process.stderr.write(`sim: ${done}/${count} seeds, ${violations} violation(s), ${((now - startedMs) / 1000).toFixed(1)} s\n`);
    },
    onFailure: (result) => {
      reportedFailures++;
      if (reportedFailures <= MAX_REPORTED_FAILURES) reportFailure(result, flags, reportedFailures === 1);
      if (reportedFailures === MAX_REPORTED_FAILURES) process.stderr.write(`(further failing seeds are only counted)\n`);
    },
  });
  const seconds = (Date.now() - startedMs) / 1000;
  process.stderr.write(`sim: done in ${seconds.toFixed(1)} s (${((seconds * 1000) / Math.max(1, count)).toFixed(1)} ms per seed)`);
  process.stderr.write(summary.firstFailingSeed === null ? "\n" : `; first failing seed ${summary.firstFailingSeed}\n`);
  printJson(summary);
  process.exitCode = summary.violations > 0 ? EXIT_VIOLATION : 0;
}

function demo(): void {
  const result = runDemo((line) => process.stdout.write(`${line}\n`));
  if (!result.ok) {
    process.stderr.write(`\ndemo FAILED: ${result.violation!.message}\nrecent events:\n${result.trace.slice(-TRACE_TAIL_LINES).join("\n")}\n`);
    process.exitCode = EXIT_VIOLATION;
  }
}

// `tsraft sim --seed S --trace | head` closes the pipe early: that is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

const program = new Command();
program
  .name("tsraft")
  .description("tsraft: Raft consensus for Node.js")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride((error: CommanderError) => process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE));

program
  .command("sim")
  .description("run the deterministic simulator with fault injection and safety checkers over many seeds, or replay one seed")
  .option("--seeds <n>", "number of seeds to run", integer("--seeds", 1))
  .option("--start <s>", "first seed of --seeds (default: 0)", integer("--start", 0, 0xffffffff))
  .option("--seed <s>", "run (replay) exactly this seed", integer("--seed", 0, 0xffffffff))
  .option("--nodes <k>", "voters at start: 3, 5 or 7 (default: drawn from each seed)", nodeCount)
  .option("--ticks <t>", "length of the fault phase in ticks", integer("--ticks", 1, 1_000_000), DEFAULT_FAULT_TICKS)
  .option("--workers <w>", "worker threads for --seeds", integer("--workers", 1, 64), Math.max(1, Math.min(2, availableParallelism())))
  .option("--trace", "print every event of the run (with --seed)")
  .action((flags: SimFlags, command: Command) => sim(flags, command));

program
  .command("demo")
  .description("tell the story of a simulated 3-node cluster: elections, a partition, a crash, a snapshot")
  .action(demo);

addAdminCommand(program);
addServeCommand(program);
addKvCommand(program);

await program.parseAsync(process.argv);
