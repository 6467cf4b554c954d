/**
 * A real cluster of `tsraft serve` processes on loopback that the nemesis can
 * break: each server listens on a private port behind a FaultProxy at its peer
 * id, so links between servers can be cut; it can be killed with SIGKILL and
 * restarted on its data, paused with SIGSTOP, slowed at every fdatasync (over
 * its IPC channel), and removed and added back through the CLI service.
 * Every line the servers print goes to one log file under the run's folder.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { ChildServer } from "../bin/child-server.js";
import { READY_LINE } from "../bin/serve-command.js";
import { CliService } from "../cli/cli-service.js";
import type { NodeId } from "../core/types.js";
import { DEFAULT_CLUSTER_NAME, DEFAULT_KV_GROUP_ID } from "../kv/kv-service.js";
import { TcpTransport } from "../transport/tcp-transport.js";
import { FaultProxy } from "./fault-proxy.js";
import { freePorts } from "./free-ports.js";
import { FAULT_INJECTION_ENV, type ServerFault } from "./server-faults.js";

const READY_TIMEOUT_MS = 30_000;

export interface NemesisClusterOptions {
  readonly nodes: number;
  /** Data folders and the server log go here. */
  readonly root: string;
  readonly electionTimeoutMs: number;
}

interface Member {
  readonly id: NodeId;
  readonly args: readonly string[];
  readonly proxy: FaultProxy;
  server: ChildServer;
  /** Whether the current process printed its ready line. */
  ready: boolean;
  paused: boolean;
}

export class NemesisCluster {
  readonly groupId = DEFAULT_KV_GROUP_ID;
  private readonly members = new Map<NodeId, Member>();

  private constructor(
    readonly ids: readonly NodeId[],
    readonly transport: TcpTransport,
    readonly cli: CliService,
    private readonly serverLog: WriteStream,
  ) {}

  static async start(options: NemesisClusterOptions): Promise<NemesisCluster> {
    const ports = await freePorts(options.nodes * 2);
    const ids = ports.slice(0, options.nodes).map((port) => `127.0.0.1:${port}`);
    const transport = await TcpTransport.start({ clusterName: DEFAULT_CLUSTER_NAME });
    const cli = new CliService(transport, { timeoutMs: 5000 });
    const cluster = new NemesisCluster(ids, transport, cli, createWriteStream(join(options.root, "servers.log")));
    await Promise.all(
      ids.map(async (id, i) => {
        const listenPort = ports[options.nodes + i]!;
        const args = [
          "serve",
          "--data",
          join(options.root, `node-${i + 1}`),
          "--server-address",
          id,
          "--listen",
          `127.0.0.1:${listenPort}`,
          "--initial-server-list",
          ids.join(","),
          "--election-timeout-ms",
          String(options.electionTimeoutMs),
          "--sync",
        ];
        const proxy = await FaultProxy.start({ host: "127.0.0.1", port: Number(id.split(":")[1]) }, { host: "127.0.0.1", port: listenPort });
        const member: Member = { id, args, proxy, server: cluster.spawn(id, args, () => (member.ready = true)), ready: false, paused: false };
        cluster.members.set(id, member);
        await cluster.waitReady(member);
      }),
    );
    return cluster;
  }

  /** The servers as the CLI service takes them. */
  get conf(): string {
    return this.ids.join(",");
  }

  /** The leader as the reachable servers report it, or null when none answers in time. */
  async leader(): Promise<NodeId | null> {
    try {
      return await this.cli.getLeader(this.groupId, this.conf);
    } catch {
      return null;
    }
  }

  async kill(id: NodeId): Promise<void> {
    const member = this.member(id);
    member.server.signal("SIGKILL");
    member.paused = false;
    await member.server.exited;
  }

  /** Starts a killed server again on its data; resolves once it serves. */
  async restart(id: NodeId): Promise<void> {
    const member = this.member(id);
    if (member.server.running) return;
    member.ready = false;
    member.server = this.spawn(id, member.args, () => (member.ready = true));
    await this.waitReady(member);
  }

  pause(id: NodeId): void {
    const member = this.member(id);
    member.server.signal("SIGSTOP");
    member.paused = true;
  }

  resume(id: NodeId): void {
    const member = this.member(id);
    if (!member.paused) return;
    member.server.signal("SIGCONT");
    member.paused = false;
  }

  /** Cuts exactly these links (pairs of servers), both ways, and restores every other. */
  cutLinks(links: readonly (readonly [NodeId, NodeId])[]): void {
    const blocked = new Map<NodeId, NodeId[]>(this.ids.map((id) => [id, []]));
    for (const [a, b] of links) {
      blocked.get(a)!.push(b);
      blocked.get(b)!.push(a);
    }
    for (const [id, senders] of blocked) this.member(id).proxy.block(senders);
  }

  slowSync(id: NodeId, delayMs: number): void {
    const fault: ServerFault = { syncDelayMs: delayMs };
    this.member(id).server.send(fault);
  }

  /** Undoes every fault: links restored, disks well, paused servers resumed, killed ones restarted. */
  async heal(): Promise<void> {
    this.cutLinks([]);
    for (const id of this.ids) {
      this.resume(id);
      this.slowSync(id, 0);
    }
    await Promise.all(this.ids.map((id) => this.restart(id)));
  }

  async stop(): Promise<void> {
    for (const id of this.ids) this.resume(id);
    await Promise.all([...this.members.values()].map((member) => member.server.stop()));
    await Promise.all([...this.members.values()].map((member) => member.proxy.close()));
    await this.transport.close();
    await new Promise((resolve) => this.serverLog.end(resolve));
  }

  private member(id: NodeId): Member {
    const member = this.members.get(id);
    if (member === undefined) throw new Error(`${id} is not a server of this cluster`);
    return member;
  }

  private spawn(id: NodeId, args: readonly string[], onReady: () => void): ChildServer {
    const env = { ...process.env, [FAULT_INJECTION_ENV]: "1" };
    return new ChildServer(
      id,
      args,
      (line) => {
        this.serverLog.write(`${new Date().toISOString()} ${id} ${line}\n`);
        if (READY_LINE.test(line)) onReady();
      },
      env,
    );
  }

  private async waitReady(member: Member): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!member.ready) {
      if (!member.server.running) throw new Error(`${member.id} exited before serving:\n${member.server.recentOutput.join("\n")}`);
      if (Date.now() > deadline) throw new Error(`${member.id} did not serve within ${READY_TIMEOUT_MS} ms:\n${member.server.recentOutput.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
