/**
 * A `tsraft serve` child process of `npm start`: its output lines passed on
 * and the last few kept (to report a crash), stopped with SIGTERM and waited
 * for. It runs in its own process group, so the terminal's Ctrl-C reaches only
 * the parent, which stops the children in order; and it has an IPC channel to
 * the parent, so it stops by itself if the parent dies without stopping it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const TSRAFT_BIN = fileURLToPath(new URL("./tsraft.js", import.meta.url));
/** Output lines kept for a crash report. */
const KEPT_LINES = 20;
/** A server that does not stop this long after SIGTERM is killed. */
const STOP_TIMEOUT_MS = 10_000;

/**
 * Node flags for one of `servers` tsraft processes that share this machine's
 * cores (npm start, the KV benchmark): V8's pool of garbage-collection helper
 * threads, 4 by default in each process, cut to this process's share of the
 * cores. On 2 cores with 3 servers, 4 helpers each contend with the servers'
 * own threads; with 1, put with 256 in flight ran faster in 11 of 13
 * alternating runs (README, "Benchmark beside etcd").
 */
export function sharedCoresNodeArgs(servers: number): string[] {
  return [`--v8-pool-size=${Math.max(1, Math.floor(availableParallelism() / servers))}`];
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class ChildServer {
  private readonly child: ChildProcess;
  private readonly lastLines: string[] = [];
  /** Resolves when the process has exited and its output is read. */
  readonly exited: Promise<ChildExit>;
  private exitStatus: ChildExit | null = null;

  constructor(
    readonly address: string,
    readonly args: readonly string[],
    onLine: (line: string) => void,
    env: NodeJS.ProcessEnv = process.env,
    /** Node's own flags (e.g. --cpu-prof), before the script. */
    nodeArgs: readonly string[] = [],
  ) {
    this.child = spawn(process.execPath, [...nodeArgs, TSRAFT_BIN, ...args], { stdio: ["ignore", "pipe", "pipe", "ipc"], detached: true, env });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
        this.lastLines.push(line);
        if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
        onLine(line);
      });
    }
    this.exited = once(this.child, "close").then(([code, signal]) => {
      this.exitStatus = { code: code as number | null, signal: signal as NodeJS.Signals | null };
      return this.exitStatus;
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  /** The command that runs this server again, for people. */
  get commandLine(): string {
    return `npx tsraft ${this.args.join(" ")}`;
  }

  get recentOutput(): readonly string[] {
    return [...this.lastLines];
  }

  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT: a fault for the nemesis) if it still runs. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** A message over the IPC channel; false if the channel is closed. */
  send(message: object): boolean {
    return this.running && this.child.connected && this.child.send(message);
  }

  /** SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS; resolves with how it ended and whether it had to be killed. */
  async stop(): Promise<{ exit: ChildExit; killed: boolean }> {
    if (!this.running) return { exit: this.exitStatus!, killed: false };
    this.child.kill("SIGTERM");
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.child.kill("SIGKILL");
    }, STOP_TIMEOUT_MS);
    const exit = await this.exited;
    clearTimeout(timer);
    return { exit, killed };
  }
}
