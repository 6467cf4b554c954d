/**
 * `tsraft serve` child processes on loopback, as an operator runs them: each on
 * a free port with its own data folder under one temp root, founders started
 * with `--initial-server-list`, newcomers with `--join`. A CliService on the
 * test's own TcpTransport (the servers' clusterName) changes and inspects the
 * membership; KvClients made here are closed by destroy(). Every child has an
 * IPC channel to the test process, so it stops by itself if the test process
 * dies; destroy() kills what is left with SIGKILL and removes the temp root.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { CliService } from "../../src/cli/cli-service.js";
import type { NodeId } from "../../src/core/types.js";
import { KvClient, type KvClientOptions } from "../../src/kv/kv-client.js";
import { TcpTransport } from "../../src/transport/tcp-transport.js";
import { freePorts } from "./kv-cluster.js";

const BIN = fileURLToPath(new URL("../../src/bin/tsraft.js", import.meta.url));
export const SERVE_GROUP = "kv";

export interface ServeClusterOptions {
  /** Default 500 ms. */
  readonly electionTimeoutMs?: number;
  /** Default "tsraft" (tsraft serve's default): the test's transport uses the same. */
  readonly clusterName?: string;
  /** fdatasync every write; default false (the tests kill processes, they do not cut power). */
  readonly sync?: boolean;
  /** CliService timeout per operation. Default 10000 ms. */
  readonly cliTimeoutMs?: number;
}

export interface ServeProcess {
  readonly id: NodeId;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** Everything it printed, stdout and stderr interleaved. */
  output: string;
  /** Its lines with the time the test process read each (Date.now()). */
  readonly lines: { readonly atMs: number; readonly text: string }[];
  /** Resolves once it exited and its output is read. */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class ServeCluster {
  readonly servers = new Map<NodeId, ServeProcess>();
  /** Stopped servers too, for the failure report. */
  private readonly everyServer: ServeProcess[] = [];
  private readonly clients: KvClient[] = [];
  private readonly spare: number[] = [];

  private constructor(
    readonly root: string,
    readonly transport: TcpTransport,
    readonly cli: CliService,
    readonly electionTimeoutMs: number,
    readonly clusterName: string,
    private readonly sync: boolean,
  ) {}

  static async create(options: ServeClusterOptions = {}): Promise<ServeCluster> {
    const clusterName = options.clusterName ?? "tsraft";
    const root = await mkdtemp(join(tmpdir(), "tsraft-serve-"));
    const transport = await TcpTransport.start({ clusterName });
    const cli = new CliService(transport, { timeoutMs: options.cliTimeoutMs ?? 10_000 });
    return new ServeCluster(root, transport, cli, options.electionTimeoutMs ?? 500, clusterName, options.sync ?? false);
  }

  /**
   * Takes `count` free ports at once (the time between the OS handing a port
   * out and a server listening on it stays short if every server of a test is
   * started right after).
   */
  async reservePorts(count: number): Promise<void> {
    this.spare.push(...(await freePorts(count)));
  }

  private nextId(): NodeId {
    const port = this.spare.shift();
    if (port === undefined) throw new Error("no reserved port left: call reservePorts first");
    return `127.0.0.1:${port}`;
  }

  /** Starts `count` founders of a new cluster; resolves with their ids once each printed its ready line. */
  async found(count: number): Promise<NodeId[]> {
    const ids = Array.from({ length: count }, () => this.nextId());
    await Promise.all(ids.map((id) => this.start(id, ["--initial-server-list", ids.join(",")])));
    return ids;
  }

  /** Starts an empty server with --join; resolves once it says it waits to be added. */
  async join(): Promise<NodeId> {
    const id = this.nextId();
    await this.start(id, ["--join"]);
    await this.waitOutput(id, /not a voter yet: waiting to be added/);
    return id;
  }

  private async start(id: NodeId, membership: readonly string[]): Promise<ServeProcess> {
    const dataDir = join(this.root, id.replace(":", "_"));
    const args = [
      BIN,
      "serve",
      "--data",
      dataDir,
      "--server-address",
      id,
      ...membership,
      "--election-timeout-ms",
      String(this.electionTimeoutMs),
      "--cluster-name",
      this.clusterName,
      this.sync ? "--sync" : "--no-sync",
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe", "ipc"] });
    const closed = once(child, "close").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    const server: ServeProcess = { id, dataDir, child, output: "", lines: [], closed };
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on("line", (text) => {
        server.lines.push({ atMs: Date.now(), text });
        server.output += `${text}\n`;
      });
    }
    this.servers.set(id, server);
    this.everyServer.push(server);
    await this.waitOutput(id, /ready: serving KV group/);
    return server;
  }

  server(id: NodeId): ServeProcess {
    const server = this.servers.get(id);
    if (server === undefined) throw new Error(`${id} is not running`);
    return server;
  }

  /** Waits until the server printed a line matching `pattern`; fails early if it exited. */
  async waitOutput(id: NodeId, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    const server = this.server(id);
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(server.output)) {
      if (server.child.exitCode !== null || server.child.signalCode !== null) throw new Error(`${id} exited before printing ${pattern}:\n${server.output}`);
      if (Date.now() > deadline) throw new Error(`${id} did not print ${pattern} within ${timeoutMs} ms:\n${server.output}`);
      await sleep(20);
    }
  }

  /** SIGTERM (a clean stop, exit code 0 expected) or SIGKILL (a crash); resolves with the exit code (null when killed). */
  async stop(id: NodeId, signal: "SIGTERM" | "SIGKILL"): Promise<number | null> {
    const server = this.server(id);
    this.servers.delete(id);
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal);
    return (await server.closed).code;
  }

  /** A KV client of this cluster, closed by destroy(). */
  client(endpoints: string | readonly NodeId[], options: Omit<KvClientOptions, "endpoints" | "clusterName"> = {}): KvClient {
    const client = new KvClient({ ...options, endpoints, clusterName: this.clusterName });
    this.clients.push(client);
    return client;
  }

  /** The leader as the CLI finds it, asking `conf` (default: every running server). */
  leader(conf: string | readonly NodeId[] = [...this.servers.keys()]): Promise<NodeId> {
    return this.cli.getLeader(SERVE_GROUP, typeof conf === "string" ? conf : conf.join(","));
  }

  /** The first "became the leader" line any server (stopped ones too) printed at or after `sinceMs`. */
  leaderElectedSince(sinceMs: number): { id: NodeId; atMs: number } | null {
    let first: { id: NodeId; atMs: number } | null = null;
    for (const server of this.everyServer) {
      const line = server.lines.find((l) => l.atMs >= sinceMs && /became the leader in term \d+/.test(l.text));
      if (line !== undefined && (first === null || line.atMs < first.atMs)) first = { id: server.id, atMs: line.atMs };
    }
    return first;
  }

  /** Every server's output, for a failure report. */
  report(): string {
    return this.everyServer.map((server) => `--- ${server.id}${this.servers.has(server.id) ? "" : " (stopped)"}\n${server.output}`).join("\n");
  }

  private destroyed: Promise<void> | null = null;

  /** Closes the clients, kills every server left with SIGKILL, closes the transport, removes the temp root. Idempotent. */
  destroy(): Promise<void> {
    this.destroyed ??= this.teardown();
    return this.destroyed;
  }

  private async teardown(): Promise<void> {
    await Promise.allSettled(this.clients.map((client) => client.close()));
    for (const server of this.everyServer) {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGKILL");
    }
    await Promise.allSettled(this.everyServer.map((server) => server.closed));
    this.servers.clear();
    await this.transport.close();
    await rm(this.root, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `read` until `ok` holds (a read that throws counts as not yet); the last value or error is in the failure. */
export async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const value = await read();
      if (ok(value)) return value;
      last = value;
    } catch (error) {
      last = error instanceof Error ? `${error.name}: ${error.message}` : error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last read ${JSON.stringify(last)}`);
    await sleep(50);
  }
}

export interface WriteRecord {
  readonly key: string;
  readonly value: string;
  /** When it was acknowledged (Date.now()). */
  readonly atMs: number;
}

export interface WriteError {
  readonly key: string;
  readonly atMs: number;
  readonly code: string;
  readonly message: string;
}

interface Mark {
  readonly label: string;
  readonly atMs: number;
}

/**
 * A client writing keys w0, w1, ... one after the other without pause (each
 * write awaited), recording every acknowledged write and every error with its
 * time. A failed write's key is never reused: whether it was applied is unknown.
 */
export class ContinuousWriter {
  readonly acked: WriteRecord[] = [];
  readonly errors: WriteError[] = [];
  private readonly marks: Mark[] = [];
  private running = false;
  private loop: Promise<void> | null = null;
  private next = 0;
  startedAtMs = 0;
  stoppedAtMs = 0;

  constructor(
    private readonly client: KvClient,
    private readonly prefix = "w",
  ) {}

  start(): void {
    this.running = true;
    this.startedAtMs = Date.now();
    this.mark("start");
    this.loop = (async () => {
      while (this.running) {
        const i = this.next++;
        const key = `${this.prefix}${i}`;
        const value = `value-${i}`;
        try {
          await this.client.put(key, value);
          this.acked.push({ key, value, atMs: Date.now() });
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          this.errors.push({ key, atMs: Date.now(), code: typeof code === "string" ? code : "?", message: error instanceof Error ? error.message : String(error) });
        }
      }
    })();
  }

  /** Names what happens from now on, for gapsByPhase(). */
  mark(label: string): void {
    this.marks.push({ label, atMs: Date.now() });
  }

  /** Resolves once `count` more writes were acknowledged than when called. */
  async waitAcked(count: number, timeoutMs = 10_000): Promise<void> {
    const target = this.acked.length + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acked.length < target) {
      if (Date.now() > deadline) throw new Error(`only ${this.acked.length - target + count} of ${count} writes were acknowledged within ${timeoutMs} ms; errors: ${JSON.stringify(this.errors.slice(-3))}`);
      await sleep(10);
    }
  }

  /** The first acknowledgement at or after `ms`, or null. */
  firstAckSince(ms: number): WriteRecord | null {
    return this.acked.find((write) => write.atMs >= ms) ?? null;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.stoppedAtMs = Date.now();
  }

  /**
   * The longest time without an acknowledgement: between two consecutive
   * acknowledged writes, and from the start to the first one.
   */
  longestGap(): { ms: number; endedAtMs: number } {
    let previous = this.startedAtMs;
    let longest = { ms: 0, endedAtMs: this.startedAtMs };
    for (const write of this.acked) {
      if (write.atMs - previous > longest.ms) longest = { ms: write.atMs - previous, endedAtMs: write.atMs };
      previous = write.atMs;
    }
    return longest;
  }

  /** For each phase named by mark(), the longest gap that ended in it and the writes acknowledged in it. */
  gapsByPhase(): { phase: string; longestGapMs: number; acked: number }[] {
    const phases = this.marks.map((mark, i) => ({ ...mark, endMs: this.marks[i + 1]?.atMs ?? Infinity, longestGapMs: 0, acked: 0 }));
    let previous = this.startedAtMs;
    for (const write of this.acked) {
      let phase = phases[0]!;
      for (const candidate of phases) if (candidate.atMs <= write.atMs) phase = candidate;
      phase.longestGapMs = Math.max(phase.longestGapMs, write.atMs - previous);
      phase.acked++;
      previous = write.atMs;
    }
    return phases.map(({ label, longestGapMs, acked }) => ({ phase: label, longestGapMs, acked }));
  }
}
