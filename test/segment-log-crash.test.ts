/**
 * Crash tests with real processes (§5.1 and Figure 2: acknowledged state is on
 * stable storage). A child changes a SegmentLog and is killed with SIGKILL at
 * random moments; after each kill the log must open, be valid, hold every
 * acknowledged change, and show the one unacknowledged operation either not
 * done, done, or (where the operation allows) partly done.
 * Bounded: a fixed number of kills, each after at most a few hundred milliseconds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SeededRandom } from "../src/core/random.js";
import { SegmentLog } from "../src/storage/segment-log.js";
import type { CrashOp } from "./support/segment-log-child.js";
import { modelLast, readModel, removeDir, tempDir, type LogModel } from "./support/segment-log-fixtures.js";

const CHILD = fileURLToPath(new URL("./support/segment-log-child.js", import.meta.url));
const SEGMENT_BYTES = 4096;

interface ChildRun {
  acked: CrashOp[];
  pending: CrashOp[];
  stderr: string;
}

/** Runs the child until a random moment after it is ready, then kills it with SIGKILL. */
function runAndKill(dir: string, mode: string, seed: number, killAfterMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, mode, String(seed), String(SEGMENT_BYTES)], { stdio: ["ignore", "pipe", "pipe"] });
    const run: ChildRun = { acked: [], pending: [], stderr: "" };
    let buffered = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === "ready") setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        else if (line.startsWith("begin ")) run.pending.push(JSON.parse(line.slice(6)) as CrashOp);
        else if (line.startsWith("ack ")) {
          const op = JSON.parse(line.slice(4)) as CrashOp;
          const at = run.pending.findIndex((p) => JSON.stringify(p) === JSON.stringify(op));
          run.pending.splice(at, 1);
          run.acked.push(op);
        }
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (run.stderr += chunk));
    child.on("error", reject);
    child.on("exit", (_code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`child exited without being killed: ${run.stderr}`));
      else resolve(run);
    });
  });
}

function apply(model: LogModel, op: CrashOp, appendCount = op.op === "append" ? op.count : 0): LogModel {
  switch (op.op) {
    case "append": {
      const terms = model.terms.slice(0, op.first - model.first);
      for (let i = 0; i < appendCount; i++) terms.push(op.term);
      return { first: model.first, terms };
    }
    case "suffix":
      return { first: model.first, terms: model.terms.slice(0, op.lastIndexKept - model.first + 1) };
    case "prefix":
      return { first: op.firstIndexKept, terms: model.terms.slice(op.firstIndexKept - model.first) };
    case "reset":
      return { first: op.nextIndex, terms: [] };
  }
}

const same = (a: LogModel, b: LogModel): boolean => a.first === b.first && a.terms.length === b.terms.length && a.terms.every((t, i) => t === b.terms[i]);

/** The states a crash may leave from `model` with `pending` unacknowledged (applied in order, the last possibly in part). */
function allowedStates(model: LogModel, pending: readonly CrashOp[]): LogModel[] {
  const states = [model];
  let current = model;
  for (const op of pending) {
    // A truncation deletes later segments from the last backwards: a crash inside it leaves a cut anywhere between the old end and the new.
    const cutFrom = op.op === "suffix" ? op.lastIndexKept : op.op === "append" ? op.first - 1 : Infinity;
    for (let keep = cutFrom; keep <= modelLast(current); keep++) states.push(apply(current, { op: "suffix", lastIndexKept: keep }));
    if (op.op === "append") {
      for (let n = 0; n <= op.count; n++) states.push(apply(current, op, n));
    } else if (op.op !== "suffix") {
      states.push(apply(current, op));
    }
    current = apply(current, op);
  }
  return states;
}

async function crashLoop(mode: string, kills: number, seed: number): Promise<void> {
  const dir = tempDir(`crash-${mode}`);
  const random = new SeededRandom(seed);
  let model: LogModel = { first: 1, terms: [] };
  let acknowledged = 0;
  try {
    for (let kill = 0; kill < kills; kill++) {
      const run = await runAndKill(dir, mode, seed * 1000 + kill, 30 + random.nextInt(220));
      for (const op of run.acked) model = apply(model, op);
      acknowledged += run.acked.length;
      const log = await SegmentLog.open(dir, { maxSegmentBytes: SEGMENT_BYTES, logger: { warn: () => {} } });
      const found = readModel(log);
      await log.close();
      const ok = allowedStates(model, run.pending).some((state) => same(state, found));
      assert.ok(ok, `after kill ${kill}: log [${found.first}, ${modelLast(found)}] is not the acknowledged log [${model.first}, ${modelLast(model)}] plus a part of ${JSON.stringify(run.pending)}`);
      model = found;
    }
    assert.ok(acknowledged > kills, `the child acknowledged only ${acknowledged} operations in ${kills} runs`);
  } finally {
    removeDir(dir);
  }
}

test("SIGKILL during pipelined appends loses no acknowledged entry (§5.1)", { timeout: 60_000 }, async () => {
  await crashLoop("append", 12, 1);
});

test("SIGKILL during appends, truncateSuffix, truncatePrefix and reset leaves a valid log: each acknowledged, the pending one done, undone or cut at a segment", { timeout: 60_000 }, async () => {
  await crashLoop("mixed", 14, 2);
});
