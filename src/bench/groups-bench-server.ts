/**
 * One server process of `npm run bench:groups` (forked by groups-bench.ts and
 * driven over the IPC channel): a TcpTransport shared by N RaftNodes, one per
 * group, each with a trivial state machine and its data under the given folder.
 * It answers status questions and measures its own CPU over a window, so the
 * figures cover the idle servers only, not the parent or the startup.
 */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { RaftNode, routeUnreachable } from "../node/raft-node.js";
import type { NodeLogger } from "../node/options.js";
import type { StateMachine } from "../node/state-machine.js";
import { TcpTransport } from "../transport/tcp-transport.js";

export type ParentMessage =
  | { readonly kind: "start"; readonly addresses: readonly string[]; readonly groups: number; readonly dataDir: string }
  | { readonly kind: "status" }
  | { readonly kind: "measure"; readonly windowMs: number; readonly profilePath: string | null };

export interface Measurement {
  readonly cpuUserMicros: number;
  readonly cpuSystemMicros: number;
  readonly wallMs: number;
  readonly leadingAtStart: number;
  readonly leadingAtEnd: number;
  readonly framesSent: number;
  readonly framesReceived: number;
  readonly warnings: number;
}

export type ChildMessage =
  | { readonly kind: "listening"; readonly address: string }
  | { readonly kind: "started" }
  | { readonly kind: "status"; readonly groupsWithLeader: number; readonly leading: number }
  | { readonly kind: "measured"; readonly measurement: Measurement }
  | { readonly kind: "failed"; readonly message: string };

/** Nodes opened at once at startup: a bound on open files and on the fsyncs queued together. */
const START_CONCURRENCY = 50;
/** Warnings printed before they are only counted (an election storm would print one per group). */
const MAX_PRINTED_WARNINGS = 10;

const nodes: RaftNode[] = [];
let warnings = 0;

const logger: NodeLogger = {
  warn(message) {
    if (++warnings <= MAX_PRINTED_WARNINGS) console.error(`warn: ${message}`);
  },
  error(message) {
    console.error(`error: ${message}`);
  },
};

const idleStateMachine: StateMachine = {
  onApply(iterator) {
    for (; iterator.hasNext(); iterator.next()) iterator.done?.();
  },
  async onSnapshotSave() {},
  async onSnapshotLoad() {
    return true;
  },
};

function send(message: ChildMessage): void {
  process.send!(message);
}

async function startNodes(transport: TcpTransport, addresses: readonly string[], groups: number, dataDir: string): Promise<void> {
  const serverId = transport.localAddress!;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let group = next++; group < groups; group = next++) {
      const groupId = `group-${group}`;
      nodes.push(
        await RaftNode.start({
          groupId,
          serverId,
          dataDir: join(dataDir, serverId.replace(":", "_"), groupId),
          initialServerList: addresses,
          stateMachine: idleStateMachine,
          transport,
          sync: true,
          logger,
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: START_CONCURRENCY }, worker));
}

function leadingCount(): number {
  return nodes.filter((node) => node.isLeader()).length;
}

async function measure(transport: TcpTransport, windowMs: number, profilePath: string | null): Promise<Measurement> {
  const profiler = profilePath === null ? null : new Session();
  if (profiler !== null) {
    profiler.connect();
    await profiler.post("Profiler.enable");
    await profiler.post("Profiler.start");
  }
  const statsAtStart = transport.stats();
  const leadingAtStart = leadingCount();
  const warningsAtStart = warnings;
  const cpuAtStart = process.cpuUsage();
  const wallAtStartMs = performance.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const cpu = process.cpuUsage(cpuAtStart);
  const wallMs = performance.now() - wallAtStartMs;
  const stats = transport.stats();
  if (profiler !== null) {
    const { profile } = await profiler.post("Profiler.stop");
    await writeFile(profilePath!, JSON.stringify(profile));
    profiler.disconnect();
  }
  return {
    cpuUserMicros: cpu.user,
    cpuSystemMicros: cpu.system,
    wallMs,
    leadingAtStart,
    leadingAtEnd: leadingCount(),
    framesSent: stats.framesSent - statsAtStart.framesSent,
    framesReceived: stats.framesReceived - statsAtStart.framesReceived,
    warnings: warnings - warningsAtStart,
  };
}

async function main(): Promise<void> {
  if (process.send === undefined) throw new Error("groups-bench-server is started by groups-bench.js, over an IPC channel");
  // The parent is gone (killed, crashed): nothing is left to report to.
  process.on("disconnect", () => process.exit(1));
  const transport = await TcpTransport.start({ clusterName: "groups-bench", listen: { host: "127.0.0.1", port: 0 }, onUnreachable: routeUnreachable });
  process.on("message", (message: ParentMessage) => {
    const handled = async (): Promise<void> => {
      switch (message.kind) {
        case "start":
          await startNodes(transport, message.addresses, message.groups, message.dataDir);
          send({ kind: "started" });
          return;
        case "status":
          send({ kind: "status", groupsWithLeader: nodes.filter((node) => node.leaderId !== null).length, leading: leadingCount() });
          return;
        case "measure":
          send({ kind: "measured", measurement: await measure(transport, message.windowMs, message.profilePath) });
          return;
      }
    };
    handled().catch((error: unknown) => send({ kind: "failed", message: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
  });
  send({ kind: "listening", address: transport.localAddress! });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
