/**
 * A child process for the crash tests: it opens a SegmentLog and changes it
 * until it is killed, printing a line before each operation ("begin {...}")
 * and after it is durable ("ack {...}"). Stdout to a pipe is synchronous on
 * Linux, so a printed ack reached the parent before any kill.
 *
 * argv: dir, mode ("append": pipelined appends; "mixed": one operation at a
 * time, appends with conflicts, truncateSuffix, truncatePrefix, reset), seed, maxSegmentBytes.
 */
import { SeededRandom } from "../../src/core/random.js";
import { SegmentLog } from "../../src/storage/segment-log.js";
import { makeEntries } from "./segment-log-fixtures.js";

export type CrashOp =
  | { op: "append"; first: number; count: number; term: number }
  | { op: "suffix"; lastIndexKept: number }
  | { op: "prefix"; firstIndexKept: number }
  | { op: "reset"; nextIndex: number };

const [dir, mode, seedText, segmentText] = process.argv.slice(2);
const random = new SeededRandom(Number(seedText));
const log = await SegmentLog.open(dir!, { maxSegmentBytes: Number(segmentText), logger: { warn: (m) => process.stderr.write(`${m}\n`) } });
const say = (what: string, op: CrashOp): void => void process.stdout.write(`${what} ${JSON.stringify(op)}\n`);
let term = Math.max(1, log.term(log.lastIndex()) ?? 1);
process.stdout.write("ready\n");

async function run(op: CrashOp): Promise<void> {
  say("begin", op);
  if (op.op === "append") await log.append(makeEntries(op.first, op.count, op.term));
  else if (op.op === "suffix") await log.truncateSuffix(op.lastIndexKept);
  else if (op.op === "prefix") await log.truncatePrefix(op.firstIndexKept);
  else await log.reset(op.nextIndex);
  say("ack", op);
}

const int = (lo: number, hi: number): number => lo + random.nextInt(hi - lo + 1);

if (mode === "append") {
  // Several appends in flight at once, so group commit merges them.
  for (;;) {
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < 4; i++) inFlight.push(run({ op: "append", first: log.lastIndex() + 1, count: int(1, 40), term }));
    await Promise.all(inFlight);
  }
} else {
  for (;;) {
    const first = log.firstIndex();
    const last = log.lastIndex();
    const roll = random.nextInt(10);
    if (roll < 5 || last < first) await run({ op: "append", first: last + 1, count: int(1, 60), term });
    else if (roll === 5) await run({ op: "append", first: int(first, last), count: int(1, 30), term: ++term });
    else if (roll === 6) await run({ op: "suffix", lastIndexKept: int(first - 1, last) });
    else if (roll < 9) await run({ op: "prefix", firstIndexKept: int(first, last + 1) });
    else await run({ op: "reset", nextIndex: int(Math.max(1, last - 20), last + 50) });
  }
}
