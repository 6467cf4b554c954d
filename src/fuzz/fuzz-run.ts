/**
 * The long fuzz run: the properties test/fuzz-*.test.ts run briefly, for as
 * long as asked, each in turns with seeds derived from one; then one JSON line
 * on stdout with the inputs tried per target (accepted as a value, refused
 * with a clear RaftError) and the failures.
 *
 *   node dist/src/fuzz/fuzz-run.js [--seconds 60] [--seed N] [--only TEXT] [--hang-seconds 30]
 *   node dist/src/fuzz/fuzz-run.js --only "TARGET: PROPERTY" --seed N --path PATH   (replays one failure)
 *
 * A failing property prints fast-check's report (the input, shrunk, with its
 * seed and path) on stderr and is not run again; the exit status is then 1.
 * An input stuck for --hang-seconds is reported by the watchdog (hang-watchdog.ts).
 *
 * fast-check is a devDependency: this runs from a dev checkout only.
 */
import { Command, type CommanderError } from "commander";
import fc from "fast-check";
import { wholeNumberFlag } from "../bin/flag-parser.js";
import { peerListTarget, serveConfigTarget } from "./config-targets.js";
import type { FuzzProperty, FuzzTarget } from "./fuzz-target.js";
import { HangWatchdog } from "./hang-watchdog.js";
import { kvRequestTarget, kvResponseTarget, kvSnapshotTarget, writeBatchTarget } from "./kv-targets.js";
import { kvServerTarget } from "./kv-server-target.js";
import { chunkRequestTarget, cliAnswerTarget, cliRequestTarget, confStateTarget, manifestRequestTarget, snapshotManifestTarget } from "./node-targets.js";
import { segmentLogTarget } from "./storage-targets.js";
import { protocolStreamTarget, raftMessageTarget } from "./transport-targets.js";

/** Each property runs in this many turns over the run, each with its own seed. */
const TURNS = 5;
const MIN_TURN_MS = 200;
const CUT_OFF_RUNS_GRACE_MS = 2000;
/** Lines of a failure's report kept in the JSON summary (stderr has all of it). */
const REPORT_LINES = 4;

interface Failure {
  readonly property: string;
  readonly seed: number;
  readonly path: string | null;
  readonly error: string;
}

function allTargets(): FuzzTarget[] {
  return [
    raftMessageTarget(),
    protocolStreamTarget(),
    kvRequestTarget(),
    kvResponseTarget(),
    writeBatchTarget(),
    kvSnapshotTarget(),
    cliRequestTarget(),
    cliAnswerTarget(),
    manifestRequestTarget(),
    chunkRequestTarget(),
    snapshotManifestTarget(),
    confStateTarget(),
    peerListTarget(),
    serveConfigTarget(),
    segmentLogTarget(),
    kvServerTarget(),
  ];
}

const EXIT_USAGE = 2;
const args = new Command("fuzz")
  .description("fuzz every decoder and request handler for as long as asked; one JSON line at the end")
  .option("--seconds <n>", "how long to fuzz, all targets in turns", wholeNumberFlag("--seconds", 0, 7 * 24 * 3600), 60)
  .option("--seed <n>", "the first seed (default: from the clock, printed in the JSON line)", wholeNumberFlag("--seed", 0, 2 ** 31 - 1), Date.now() % 1_000_000_000)
  .option("--only <text>", 'only the properties whose "target: property" name holds this text')
  .option("--path <path>", "with --only and --seed: replay one failure at fast-check's path")
  .option("--hang-seconds <n>", "an input running this long is reported as a hang", wholeNumberFlag("--hang-seconds", 1, 3600), 30)
  .showHelpAfterError()
  .exitOverride((error: CommanderError) => process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE))
  .parse()
  .opts<{ seconds: number; seed: number; only?: string; path?: string; hangSeconds: number }>();
const { seconds, seed: baseSeed, hangSeconds } = args;

const nameOf = (target: FuzzTarget, property: FuzzProperty): string => `${target.name}: ${property.name}`;
const targets = allTargets().filter((target) => args.only === undefined || target.properties.some((property) => nameOf(target, property).includes(args.only!)));
const properties = targets.flatMap((target) => target.properties.filter((property) => args.only === undefined || nameOf(target, property).includes(args.only)).map((property) => ({ target, property, name: nameOf(target, property) })));
if (properties.length === 0) {
  console.error(`no fuzz property matches --only ${JSON.stringify(args.only)}`);
  process.exit(EXIT_USAGE);
}

if (args.path !== undefined && properties.length !== 1) {
  console.error(`--path replays one property; --only ${JSON.stringify(args.only)} matches ${properties.length}`);
  process.exit(EXIT_USAGE);
}

for (const target of targets) await target.open?.();
const failures = args.path === undefined ? await fuzz() : await replay(args.path);
// An async run cut off at the end of its turn goes on in the background: let it end before its folders go.
await new Promise((resolve) => setTimeout(resolve, CUT_OFF_RUNS_GRACE_MS));
for (const target of targets) await target.close?.();

console.log(
  JSON.stringify({
    seed: baseSeed,
    seconds,
    targets: Object.fromEntries(targets.map((target) => [target.name, target.counts])),
    failures,
  }),
);
process.exitCode = failures.length > 0 ? 1 : 0;

async function fuzz(): Promise<Failure[]> {
  const watchdog = new HangWatchdog(
    properties.map((entry) => entry.name),
    hangSeconds * 1000,
  );
  const turnMs = Math.max(MIN_TURN_MS, (seconds * 1000) / (properties.length * TURNS));
  const deadline = Date.now() + seconds * 1000;
  const failures: Failure[] = [];
  const failed = new Set<string>();
  for (let turn = 0; Date.now() < deadline; turn++) {
    for (const [number, { property, name }] of properties.entries()) {
      if (failed.has(name) || Date.now() >= deadline) continue;
      // Seeds apart per turn and per property; fast-check takes 32-bit ones.
      const seed = (baseSeed + turn * 7919 + number * 104_729) | 0;
      watchdog.startSlice(number, seed);
      const details = await fc.check(property.property, {
        seed,
        numRuns: 2 ** 31 - 1,
        includeErrorInReport: true,
        plugins: [fc.interruptAfterTimeLimit(Math.min(turnMs, deadline - Date.now())), fc.beforeEach(() => watchdog.beat())],
      });
      // Interrupted before a first success is no failure: a slow input met the end of its turn.
      if (details.failed && (details.counterexample !== null || !details.interrupted)) {
        failed.add(name);
        failures.push(failureOf(name, details));
      }
    }
  }
  await watchdog.stop();
  return failures;
}

/** Runs one property from a failure's seed and path, to see its report again. */
async function replay(path: string): Promise<Failure[]> {
  const { property, name } = properties[0]!;
  const details = await fc.check(property.property, { seed: baseSeed, path, numRuns: 1, includeErrorInReport: true });
  return details.failed ? [failureOf(name, details)] : [];
}

function failureOf<Ts>(name: string, details: fc.RunDetails<Ts>): Failure {
  const report = fc.defaultReportMessage(details) ?? "failed";
  console.error(`fuzz property "${name}" failed:\n${report}\n`);
  const error = report.split("\n").filter((line) => /Counterexample|Got /.test(line)).slice(0, REPORT_LINES).join("\n");
  return { property: name, seed: details.seed, path: details.counterexamplePath, error };
}
