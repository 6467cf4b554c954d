#!/usr/bin/env node
/**
 * `npm start`: three `tsraft serve` processes on 127.0.0.1:8181-8183 with their
 * data under ./data/<port> (the first boot founds the cluster; later boots
 * take the membership from their logs), a wait for the leader, the endpoints
 * and commands to try, then a status line about once a second (leader, term,
 * commit index, ops/s, from each server's status service) until Ctrl-C stops
 * the servers with SIGTERM and waits for them.
 *
 *   node dist/src/bin/start-cluster.js [--ports 8181,8182,8183] [--host 127.0.0.1] [--data-root ./data]
 *
 * The servers authenticate peers and clients with a cluster secret, made on
 * the first start in <data-root>/cluster.secret (readable by its owner only).
 *
 * Exit codes: 0 stopped cleanly; 1 a server failed to start, no leader was
 * elected in time, every server died, or one had to be killed; 2 bad flags.
 */
import { join, resolve } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { RaftError } from "../errors.js";
import { fetchKvStatus, type KvServerStatus } from "../kv/kv-status.js";
import { DEFAULT_CLUSTER_NAME, DEFAULT_KV_GROUP_ID } from "../kv/kv-service.js";
import { parseAddress } from "../transport/peer-address.js";
import { TcpTransport } from "../transport/tcp-transport.js";
import { plainMessage } from "../transport/protocol.js";
import { ChildServer, sharedCoresNodeArgs } from "./child-server.js";
import { CLUSTER_SECRET_FILE_ENV, ensureClusterSecretFile, loadCredentials, type Credentials } from "./credentials.js";

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const STATUS_EVERY_MS = 1000;
const STATUS_TIMEOUT_MS = 800;
/** Starting three processes and the first election take a few seconds; far more means something is wrong. */
const LEADER_TIMEOUT_MS = 30_000;
const MAX_SERVERS = 9;
const CLUSTER_SECRET_FILE_NAME = "cluster.secret";

interface Flags {
  ports: number[];
  host: string;
  dataRoot: string;
}

const program = new Command("start-cluster")
  .description("start a local tsraft KV cluster (npm start) and show its status until Ctrl-C")
  .option("--ports <list>", "the servers' ports, comma-separated", portsFlag, [8181, 8182, 8183])
  .option("--host <host>", "where the servers listen", hostFlag, "127.0.0.1")
  .option("--data-root <dir>", "the servers' data go to <dir>/<port>", "./data")
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE))
  .parse();
const flags = program.opts<Flags>();
const secretFile = resolve(flags.dataRoot, CLUSTER_SECRET_FILE_NAME);
let credentials: Credentials;
try {
  await ensureClusterSecretFile(secretFile);
  credentials = await loadCredentials({ clusterSecret: { file: secretFile } });
} catch (error) {
  process.stderr.write(`start-cluster: ${error instanceof RaftError ? plainMessage(error) : String(error)}\n`);
  process.exit(EXIT_FAILED);
}

const addresses = flags.ports.map((port) => `${flags.host}:${port}`);
const endpoints = addresses.join(",");
const statusLine = createStatusLine();
const servers = addresses.map((address, i) => {
  const args = ["serve", "--data", join(flags.dataRoot, String(flags.ports[i])), "--server-address", address, "--initial-server-list", endpoints, "--cluster-secret-file", secretFile];
  return new ChildServer(address, args, (line) => statusLine.print(line), process.env, sharedCoresNodeArgs(addresses.length));
});
const transport = await TcpTransport.start({ clusterName: DEFAULT_CLUSTER_NAME, ...credentials });
let ready = false;
let stopping = false;

for (const server of servers) {
  void server.exited.then((exit) => {
    if (stopping) return;
    const how = exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    statusLine.print(`\nserver ${server.address} ${how}; its last lines:\n${server.recentOutput.map((line) => `  | ${line}`).join("\n") || "  (no output)"}`);
    if (!ready) void stopAll(`server ${server.address} failed to start`, EXIT_FAILED);
    else if (servers.every((s) => !s.running)) void stopAll("every server has stopped", EXIT_FAILED);
    else statusLine.print(`the others go on; start it again with: ${server.commandLine}\n`);
  });
}
process.on("SIGINT", () => void stopAll("Ctrl-C", 0));
process.on("SIGTERM", () => void stopAll("SIGTERM", 0));

const leader = await waitForLeader();
if (leader !== null && !stopping) {
  ready = true;
  printWelcome(leader);
  void showStatus();
}

async function waitForLeader(): Promise<KvServerStatus | null> {
  const deadlineMs = Date.now() + LEADER_TIMEOUT_MS;
  while (!stopping) {
    const statuses = await fetchAll();
    const leader = statuses.find((status) => status?.state === "leader") ?? null;
    if (leader !== null && statuses.every((status) => status?.leaderId === leader.serverId)) return leader;
    if (Date.now() > deadlineMs) {
      await stopAll(`no leader was elected within ${LEADER_TIMEOUT_MS / 1000} s`, EXIT_FAILED);
      return null;
    }
    await sleep(200);
  }
  return null;
}

function printWelcome(leader: KvServerStatus): void {
  const lines = [
    "",
    `tsraft KV cluster of ${servers.length} servers is up; the leader is ${leader.serverId} (term ${leader.term}).`,
    `  endpoints: ${endpoints}`,
    `  data:      ${servers.map((_, i) => join(flags.dataRoot, String(flags.ports[i]))).join(", ")}`,
    `  secret:    ${secretFile} (peers and clients must prove they hold it)`,
    "",
    "Try, in another terminal:",
    `  E=${endpoints}`,
    `  export ${CLUSTER_SECRET_FILE_ENV}=${secretFile}   # or --cluster-secret-file on each command`,
    "  npx tsraft kv put greeting hello --endpoints $E",
    "  npx tsraft kv get greeting --endpoints $E",
    "  npx tsraft kv cas greeting bonjour --expect hello --endpoints $E",
    "  npx tsraft kv scan --endpoints $E --json",
    "  npx tsraft kv watch greeting --endpoints $E          # then put again from a third terminal",
    `  npx tsraft admin get-configuration --group ${DEFAULT_KV_GROUP_ID} --conf $E`,
    `  npx tsraft admin transfer-leader --group ${DEFAULT_KV_GROUP_ID} --conf $E   # watch the status line follow`,
    "",
    "Ctrl-C stops the servers (their data stays for the next start).",
    "",
  ];
  statusLine.print(lines.join("\n"));
}

async function showStatus(): Promise<void> {
  let previous: { atMs: number; calls: number } | null = null;
  while (!stopping) {
    const started = Date.now();
    const statuses = await fetchAll();
    const up = statuses.filter((status): status is KvServerStatus => status !== null);
    const calls = up.reduce((sum, status) => sum + status.callsServed, 0);
    const opsPerSec = previous === null ? 0 : Math.max(0, Math.round(((calls - previous.calls) * 1000) / (started - previous.atMs)));
    previous = { atMs: started, calls };
    const leader = up.find((status) => status.state === "leader");
    const term = Math.max(0, ...up.map((status) => status.term));
    const where = leader !== undefined ? `leader ${leader.serverId}  term ${leader.term}  commit ${leader.committedIndex}` : `no leader (election under way)  term ${term}`;
    if (!stopping) statusLine.set(`${where}  ${opsPerSec} ops/s  ${up.length}/${servers.length} servers up`);
    await sleep(Math.max(0, STATUS_EVERY_MS - (Date.now() - started)));
  }
}

async function fetchAll(): Promise<(KvServerStatus | null)[]> {
  return Promise.all(
    servers.map((server) =>
      server.running ? fetchKvStatus(transport, server.address, DEFAULT_KV_GROUP_ID, STATUS_TIMEOUT_MS).catch(() => null) : Promise.resolve(null),
    ),
  );
}

async function stopAll(why: string, exitCode: number): Promise<void> {
  // A second Ctrl-C (npm passes it on too) changes nothing: the servers are being stopped.
  if (stopping) return;
  stopping = true;
  statusLine.print(`${why}: stopping the servers...`);
  const outcomes = await Promise.all(servers.map((server) => server.stop()));
  const killed = servers.filter((_, i) => outcomes[i]!.killed).map((server) => server.address);
  if (killed.length > 0) statusLine.print(`${killed.join(", ")} did not stop within 10 s and were killed`);
  await transport.close();
  statusLine.print(killed.length === 0 ? "stopped." : "stopped, not cleanly.");
  process.exit(killed.length > 0 ? EXIT_FAILED : exitCode);
}

/** One line rewritten in place on a terminal; a plain line per update otherwise (logs, pipes). */
function createStatusLine(): { set(line: string): void; print(text: string): void } {
  const tty = process.stdout.isTTY === true;
  let current = "";
  const clear = (): void => {
    if (tty && current !== "") process.stdout.write("\r\x1b[2K");
  };
  return {
    set(line) {
      clear();
      current = line;
      process.stdout.write(tty ? line : `${line}\n`);
    },
    print(text) {
      clear();
      process.stdout.write(`${text}\n`);
      if (tty && current !== "") process.stdout.write(current);
    },
  };
}

function portsFlag(text: string): number[] {
  const ports = text.split(",").map((part) => Number(part.trim()));
  if (ports.length < 1 || ports.length > MAX_SERVERS || ports.some((port) => !Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new InvalidArgumentError(`expected 1 to ${MAX_SERVERS} comma-separated ports such as 8181,8182,8183, got "${text}"`);
  }
  if (new Set(ports).size !== ports.length) throw new InvalidArgumentError(`a port is listed twice in "${text}"`);
  return ports;
}

function hostFlag(text: string): string {
  try {
    parseAddress(`${text}:1`);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof RaftError ? `host "${text}" has characters other than letters, digits, '.' and '-'` : String(error));
  }
  return text;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
