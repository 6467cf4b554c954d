/**
 * `npm run bench:groups`: the idle cost of many Raft groups. Three server
 * processes on 127.0.0.1 (groups-bench-server.ts) each host the same N groups
 * (default 1000) of three replicas over one shared TcpTransport, with fsync on
 * and data in a temp folder removed at the end. Once every group has a leader
 * and the cluster has settled, each process measures its own CPU over a window
 * while nothing is proposed. Prints a line per process, then one JSON line:
 * {"groups":N,"idleCpuPctPerProcess":[a,b,c]} in percent of one core.
 *
 *   --groups N         groups per process (default 1000)
 *   --window-secs S    the measurement window (default 10)
 *   --profile FILE     also write the first process's CPU profile of the window (.cpuprofile)
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildMessage, Measurement, ParentMessage } from "./groups-bench-server.js";

const PROCESSES = 3;
const SETTLE_MS = 3000;
const STATUS_POLL_MS = 250;
/** Beyond startup, settling and the window: how much longer the whole run may take before it is stopped. */
const RUN_SLACK_MS = 30_000;
/** Every group must have a leader within this (startup with fsync included); past it the run fails. */
const startupTimeoutMs = (groups: number): number => 30_000 + 60 * groups;

interface Args {
  readonly groups: number;
  readonly windowMs: number;
  readonly profilePath: string | null;
}

function parseArgs(argv: readonly string[]): Args {
  let groups = 1000;
  let windowSecs = 10;
  let profilePath: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--groups") groups = Number(value);
    else if (flag === "--window-secs") windowSecs = Number(value);
    else if (flag === "--profile") profilePath = value;
    else throw new Error(`unknown flag ${flag}; expected --groups N, --window-secs S, --profile FILE`);
  }
  if (!Number.isSafeInteger(groups) || groups < 1) throw new Error(`--groups must be a positive integer, got ${groups}`);
  if (!(windowSecs > 0)) throw new Error(`--window-secs must be positive, got ${windowSecs}`);
  return { groups, windowMs: windowSecs * 1000, profilePath };
}

/** One forked server and the answers it sends, taken in order by kind. */
class Server {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private readonly waiting: { kind: ChildMessage["kind"]; resolve: (message: ChildMessage) => void; reject: (error: Error) => void }[] = [];
  private failure: Error | null = null;

  constructor(readonly number: number) {
    const entry = fileURLToPath(new URL("./groups-bench-server.js", import.meta.url));
    this.child = fork(entry, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
    this.child.on("message", (message: ChildMessage) => {
      if (message.kind === "failed") {
        this.fail(new Error(`process ${number} failed: ${message.message}`));
        return;
      }
      const at = this.waiting.findIndex((waiter) => waiter.kind === message.kind);
      if (at >= 0) this.waiting.splice(at, 1)[0]!.resolve(message);
    });
    this.child.once("exit", (code, signal) => this.fail(new Error(`process ${number} exited (code ${code}, signal ${signal})`)));
  }

  /** Sends `message` (if any) and resolves with the next answer of `kind`. */
  ask<K extends ChildMessage["kind"]>(kind: K, message?: ParentMessage): Promise<Extract<ChildMessage, { kind: K }>> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const answer = new Promise<ChildMessage>((resolve, reject) => this.waiting.push({ kind, resolve, reject }));
    if (message !== undefined) this.child.send(message);
    return answer as Promise<Extract<ChildMessage, { kind: K }>>;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }
}

async function waitForLeaders(servers: readonly Server[], groups: number, deadlineMs: number): Promise<void> {
  for (;;) {
    const statuses = await Promise.all(servers.map((server) => server.ask("status", { kind: "status" })));
    const leading = statuses.reduce((sum, status) => sum + status.leading, 0);
    if (leading === groups && statuses.every((status) => status.groupsWithLeader === groups)) return;
    if (Date.now() > deadlineMs) {
      const known = statuses.map((status) => status.groupsWithLeader).join("/");
      throw new Error(`not every group has a leader after ${startupTimeoutMs(groups)} ms: ${leading} leaders for ${groups} groups, leaders known ${known}`);
    }
    await new Promise((resolve) => setTimeout(resolve, STATUS_POLL_MS));
  }
}

function percent(part: number, whole: number): number {
  return Math.round((1000 * part) / whole) / 10;
}

function describe(number: number, address: string, m: Measurement): string {
  const wallMicros = m.wallMs * 1000;
  const total = percent(m.cpuUserMicros + m.cpuSystemMicros, wallMicros);
  const leaders = m.leadingAtStart === m.leadingAtEnd ? `${m.leadingAtEnd}` : `${m.leadingAtStart} -> ${m.leadingAtEnd}`;
  const perSec = (frames: number): string => Math.round((frames * 1000) / m.wallMs).toLocaleString("en-US");
  return (
    `process ${number} (${address}): idle CPU ${total}% of one core (user ${percent(m.cpuUserMicros, wallMicros)}%, system ${percent(m.cpuSystemMicros, wallMicros)}%) ` +
    `over ${(m.wallMs / 1000).toFixed(1)} s; leads ${leaders} groups; frames/s sent ${perSec(m.framesSent)}, received ${perSec(m.framesReceived)}` +
    (m.warnings > 0 ? `; ${m.warnings} warnings` : "")
  );
}

async function run(args: Args, servers: Server[], dataDir: string): Promise<void> {
  const startedAtMs = Date.now();
  for (let number = 1; number <= PROCESSES; number++) servers.push(new Server(number));
  const addresses = (await Promise.all(servers.map((server) => server.ask("listening")))).map((answer) => answer.address);
  console.log(`${PROCESSES} processes at ${addresses.join(", ")}; starting ${args.groups} groups in each (data in ${dataDir}, fsync on)`);
  await Promise.all(servers.map((server) => server.ask("started", { kind: "start", addresses, groups: args.groups, dataDir })));
  console.log(`all nodes started after ${((Date.now() - startedAtMs) / 1000).toFixed(1)} s`);
  await waitForLeaders(servers, args.groups, startedAtMs + startupTimeoutMs(args.groups));
  console.log(`every group has a leader after ${((Date.now() - startedAtMs) / 1000).toFixed(1)} s; settling ${SETTLE_MS / 1000} s, then measuring ${args.windowMs / 1000} s of idle`);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const measurements = await Promise.all(
    servers.map((server, i) => server.ask("measured", { kind: "measure", windowMs: args.windowMs, profilePath: i === 0 ? args.profilePath : null })),
  );
  measurements.forEach(({ measurement }, i) => console.log(describe(i + 1, addresses[i]!, measurement)));
  if (args.profilePath !== null) console.log(`CPU profile of process 1 (its figure includes the profiler's cost): ${args.profilePath}`);
  console.log(`wall time ${((Date.now() - startedAtMs) / 1000).toFixed(1)} s`);
  const idleCpuPctPerProcess = measurements.map(({ measurement: m }) => percent(m.cpuUserMicros + m.cpuSystemMicros, m.wallMs * 1000));
  console.log(JSON.stringify({ groups: args.groups, idleCpuPctPerProcess }));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dataDir = await mkdtemp(join(tmpdir(), "tsraft-groups-bench-"));
  const servers: Server[] = [];
  const stopServers = (): void => {
    for (const server of servers) server.child.kill("SIGKILL");
  };
  process.once("exit", stopServers); // a crash of this process leaves no server behind
  const runLimitMs = startupTimeoutMs(args.groups) + SETTLE_MS + args.windowMs + RUN_SLACK_MS;
  let limitTimer: NodeJS.Timeout | undefined;
  const aborted = new Promise<never>((_, reject) => {
    limitTimer = setTimeout(() => reject(new Error(`the run took longer than ${runLimitMs} ms; stopped`)), runLimitMs);
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => reject(new Error(`stopped by ${signal}`)));
  });
  try {
    await Promise.race([run(args, servers, dataDir), aborted]);
  } finally {
    clearTimeout(limitTimer);
    stopServers();
    await Promise.all(servers.map((server) => server.exited));
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
