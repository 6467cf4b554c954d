/**
 * KV tests with real processes, on serve-cluster.ts's ServeCluster (three
 * `tsraft serve` children on free ports, temp data folders, 500 ms elections):
 * the leader by the servers' own status (kv-status), `tsraft kv` runs, and
 * client worker processes (kv-client-worker.ts) that speak one JSON line per
 * event. destroy() SIGKILLs the workers, then the servers, and removes the
 * temp folder (ServeCluster.destroy).
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { NodeId } from "../../src/core/types.js";
import { KvClient, toText, type KvClientOptions } from "../../src/kv/index.js";
import { fetchKvStatus, type KvServerStatus } from "../../src/kv/kv-status.js";
import { SERVE_GROUP, ServeCluster, sleep } from "./serve-cluster.js";

export { sleep };
export const TSRAFT_BIN = fileURLToPath(new URL("../../src/bin/tsraft.js", import.meta.url));
export const KV_WORKER = fileURLToPath(new URL("./kv-client-worker.js", import.meta.url));
export const PROCESS_CLUSTER_NAME = "tsraft-kv-processes";
export const PROCESS_GROUP = SERVE_GROUP;

export interface CliRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class KvProcesses {
  private readonly workers: Worker[] = [];

  private constructor(
    readonly cluster: ServeCluster,
    /** The founders, killed ones included. */
    readonly ids: readonly NodeId[],
  ) {}

  /** Three founders, each ready (its `ready` line printed). */
  static async start(size = 3, electionTimeoutMs = 500): Promise<KvProcesses> {
    const cluster = await ServeCluster.create({ electionTimeoutMs, clusterName: PROCESS_CLUSTER_NAME });
    try {
      await cluster.reservePorts(size);
      return new KvProcesses(cluster, await cluster.found(size));
    } catch (error) {
      console.error(cluster.report());
      await cluster.destroy();
      throw error;
    }
  }

  /** Every founder, as a client's configuration would list them (killed ones stay listed). */
  get endpoints(): string {
    return this.ids.join(",");
  }

  get transport(): ServeCluster["transport"] {
    return this.cluster.transport;
  }

  running(): NodeId[] {
    return this.ids.filter((id) => {
      const child = this.cluster.servers.get(id)?.child;
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    });
  }

  /** The server's status, or null when it does not answer. */
  async status(id: NodeId, timeoutMs = 1000): Promise<KvServerStatus | null> {
    try {
      return await fetchKvStatus(this.transport, id, PROCESS_GROUP, timeoutMs);
    } catch {
      return null;
    }
  }

  /** The one leader every running server follows, once it applied what it committed in its term. */
  async waitLeader(timeoutMs = 15_000): Promise<KvServerStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = await Promise.all(this.running().map((id) => this.status(id)));
      const leaders = statuses.filter((s) => s?.state === "leader");
      if (leaders.length === 1) {
        const leader = leaders[0]!;
        const agreed = statuses.every((s) => s !== null && s.leaderId === leader.serverId && s.term === leader.term);
        if (agreed && leader.committedIndex > 0 && leader.appliedIndex >= leader.committedIndex) return leader;
      }
      if (Date.now() > deadline) throw new Error(`no leader that every running server follows within ${timeoutMs} ms: ${JSON.stringify(statuses)}`);
      await sleep(50);
    }
  }

  /** SIGKILL: a crash. Resolves once the process is gone. */
  async kill(id: NodeId): Promise<void> {
    await this.cluster.stop(id, "SIGKILL");
  }

  /** A KvClient of every founder (10 s per call), closed by destroy(). */
  client(options: Omit<KvClientOptions, "endpoints" | "clusterName"> = {}): KvClient {
    return this.cluster.client(this.endpoints, { timeoutMs: 10_000, ...options });
  }

  /** `tsraft kv <args> --endpoints <every founder> --cluster-name <ours>` as a child process. */
  kv(...args: string[]): Promise<CliRun> {
    return runTsraft(["kv", ...args, "--endpoints", this.endpoints, "--cluster-name", PROCESS_CLUSTER_NAME]);
  }

  /** A child process running kv-client-worker.ts in `mode` against this cluster, SIGKILLed by destroy(). */
  worker(mode: string, params: Record<string, unknown>): Worker {
    const worker = new Worker(mode, { endpoints: this.endpoints, clusterName: PROCESS_CLUSTER_NAME, ...params });
    this.workers.push(worker);
    return worker;
  }

  report(): string {
    return this.cluster.report();
  }

  async destroy(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.kill()));
    await this.cluster.destroy();
  }
}

/** A client worker process: JSON lines out (kept in `lines`), text lines in. */
export class Worker {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stderr = "";
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(mode: string, params: Record<string, unknown>) {
    this.child = spawn(process.execPath, [KV_WORKER, mode, JSON.stringify(params)], { stdio: ["pipe", "pipe", "pipe"] });
    createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on("line", (line) => {
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.lines.push({ unparsed: line });
      }
    });
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.closed = once(this.child, "close").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** The first line with this `event`, waiting for it. */
  async line(event: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    await waitUntil(() => this.lines.some((line) => line.event === event) || !this.running, timeoutMs, `worker line "${event}"`);
    const found = this.lines.find((line) => line.event === event);
    if (found === undefined) throw new Error(`the worker ended without "${event}": ${JSON.stringify(this.lines.slice(-5))}\n${this.stderr}`);
    return found;
  }

  count(event: string): number {
    return this.lines.filter((line) => line.event === event).length;
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (!this.running) return;
    if (signal === "SIGKILL") this.child.kill("SIGCONT"); // a stopped process dies of SIGKILL too, but be sure its pipes drain
    this.child.kill(signal);
    await this.closed;
  }
}

export function runTsraft(args: readonly string[], timeoutMs = 30_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSRAFT_BIN, ...args], { encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

export async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------- client logic shared by the test and the workers

/**
 * Adds one to the decimal counter at `key` with a compareAndPut loop until
 * `successes` increments went through; each success is the swap of the value
 * v to v + 1, and the v + 1 it wrote is recorded.
 */
export async function casIncrements(kv: KvClient, key: string, successes: number): Promise<{ wrote: number[]; attempts: number }> {
  const wrote: number[] = [];
  let attempts = 0;
  let current = await kv.get(key);
  while (wrote.length < successes) {
    attempts++;
    const seen = current === null ? 0 : Number(toText(current));
    if (await kv.compareAndPut(key, current, String(seen + 1))) {
      wrote.push(seen + 1);
      current = new TextEncoder().encode(String(seen + 1));
    } else {
      current = await kv.get(key);
    }
  }
  return { wrote, attempts };
}

export const FENCE_KEY = "resource/fence";
export const RESOURCE_KEY = "resource/data";

/**
 * A write to a resource guarded by fencing tokens: refused when a newer token
 * has written; otherwise the fence and the data are swapped together with
 * compareAndPutAll, so a newer holder writing in between makes it retry (and
 * then be refused).
 */
export async function fencedWrite(kv: KvClient, token: number, data: string): Promise<"written" | "refused"> {
  for (;;) {
    const [fence, current] = await kv.multiGet([FENCE_KEY, RESOURCE_KEY]);
    const newest = fence === null ? 0 : Number(toText(fence!));
    if (newest > token) return "refused";
    const swapped = await kv.compareAndPutAll([
      { key: FENCE_KEY, expect: fence ?? null, value: String(token) },
      { key: RESOURCE_KEY, expect: current ?? null, value: data },
    ]);
    if (swapped) return "written";
  }
}
