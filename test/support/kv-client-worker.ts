/**
 * A KV client in a process of its own, for kv-processes.test.ts: one JSON
 * line per event on stdout, commands as lines on stdin.
 *
 *   node kv-client-worker.js <mode> '<json params: endpoints, clusterName, ...>'
 *
 * cas:  {key, successes}: "ready", then on "go" increments the counter with
 *       compareAndPut loops until `successes` went through: "done" {wrote, attempts}.
 * lock: {key, owner, leaseMs}: takes the lock (keepAlive), writes the fenced
 *       resource: "acquired" {token, expiresAtMs, write}; on "check" (after a
 *       pause past its lease) renews and releases with its token and writes the
 *       resource again: "checked" {renewed, released, write, heldAfter}.
 * seq:  {key, concurrency, maxStep}: "ready", then loops of getSequence, one
 *       "range" {start, end, step} per acknowledged call, "failed" {step, code}
 *       per failed one, until "stop": "done".
 */
import { createInterface } from "node:readline";
import { RaftError } from "../../src/errors.js";
import { KvClient } from "../../src/kv/index.js";
import { casIncrements, fencedWrite, sleep } from "./kv-processes.js";

const [mode, paramsJson] = process.argv.slice(2);
const params = JSON.parse(paramsJson ?? "{}") as Record<string, unknown>;
const kv = new KvClient({ endpoints: params.endpoints as string, clusterName: params.clusterName as string, timeoutMs: (params.timeoutMs as number | undefined) ?? 10_000 });
const emit = (event: string, fields: Record<string, unknown> = {}): void => void process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
const commands: string[] = [];
const waiters: (() => void)[] = [];
createInterface({ input: process.stdin, crlfDelay: Infinity }).on("line", (line) => {
  commands.push(line.trim());
  for (const wake of waiters.splice(0)) wake();
});

async function command(name: string): Promise<void> {
  while (!commands.includes(name)) await new Promise<void>((resolve) => waiters.push(resolve));
}

async function cas(): Promise<void> {
  emit("ready");
  await command("go");
  emit("done", await casIncrements(kv, params.key as string, params.successes as number));
}

async function lock(): Promise<void> {
  const key = params.key as string;
  const owner = params.owner as string;
  const leaseMs = params.leaseMs as number;
  const held = kv.lock(key, { owner, leaseMs, keepAlive: true });
  await held.lock();
  const token = held.fencingToken;
  emit("acquired", { token, expiresAtMs: held.lastState!.expiresAtMs, write: await fencedWrite(kv, token, `${owner}:first`) });
  await command("check");
  // Back from a pause longer than the lease: whatever this process believes, the store decides.
  const renewed = await kv.renewLock(key, owner, token, leaseMs);
  const released = await kv.releaseLock(key, owner, token);
  const write = await fencedWrite(kv, token, `${owner}:late`);
  const deadline = Date.now() + 5000;
  while (held.held && Date.now() < deadline) await sleep(20); // the keepAlive timer's renewal learns it lost the lock
  emit("checked", { renewed, released, write, heldAfter: held.held });
}

async function seq(): Promise<void> {
  const key = params.key as string;
  const maxStep = params.maxStep as number;
  let stop = false;
  void command("stop").then(() => (stop = true));
  emit("ready");
  await Promise.all(
    Array.from({ length: params.concurrency as number }, async (_, loop) => {
      for (let i = 0; !stop; i++) {
        const step = 1 + ((loop + i) % maxStep);
        try {
          const range = await kv.getSequence(key, step);
          emit("range", { start: range.start, end: range.end, step });
        } catch (error) {
          emit("failed", { step, code: error instanceof RaftError ? error.code : String(error) });
        }
      }
    }),
  );
  emit("done");
}

const modes: Record<string, () => Promise<void>> = { cas, lock, seq };
try {
  const run = modes[mode ?? ""];
  if (run === undefined) throw new Error(`unknown mode ${mode}`);
  await run();
} catch (error) {
  emit("error", { message: error instanceof Error ? error.message : String(error), code: error instanceof RaftError ? error.code : null });
  process.exitCode = 1;
} finally {
  await kv.close();
  process.stdin.destroy();
}
