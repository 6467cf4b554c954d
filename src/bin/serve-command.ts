/**
 * `tsraft serve`: one KV server process (transport, node, CLI and KV
 * services) from flags or a YAML config file. `--initial-server-list` founds a
 * cluster on the first boot of an empty data folder (afterwards the log and
 * snapshot hold the membership, and a disagreeing list is only warned
 * about); `--join` starts an empty server that waits to be added by the
 * running cluster's leader and never forms a cluster of its own.
 *
 * Exit codes: 0 stopped cleanly (SIGINT, SIGTERM, or the parent that started
 * it with an IPC channel went away), 1 it could not start or stop cleanly,
 * 2 bad flags or config.
 */
import { readdir } from "node:fs/promises";
import { Command, Option } from "commander";
import { RaftError } from "../errors.js";
import { startKvProcess, type KvProcess } from "../kv/kv-process.js";
import { plainMessage } from "../transport/protocol.js";
import { credentialOptions, credentialsFromEnv, loadCredentials, type Credentials } from "./credentials.js";
import { mergeServeSettings, readServeConfig, SERVE_SETTINGS, type ServeSettings } from "./serve-config.js";
import { acceptServerFaults, FAULT_INJECTION_ENV } from "../nemesis/server-faults.js";

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

export function addServeCommand(program: Command): void {
  const command = program
    .command("serve")
    .description("run a KV server: a Raft node of the KV group with the KV, CLI and snapshot services on one TCP port")
    .option("--data <dir>", "folder of this server's log and snapshots (one per server)")
    .option("--server-address <host:port>", "where this server listens: its peer id (host:port[:idx[:priority]])")
    .option("--listen <host:port>", "bind here instead of the server address, when peers reach this server through a proxy or NAT")
    .option("--initial-server-list <list>", "the founding voters, comma-separated, this server included; used on the first boot of an empty --data only")
    .option("--join", "start empty and wait to be added by the cluster's leader (tsraft admin add-peer); never founds a cluster")
    .option("--group <id>", `the KV group id (default: "kv")`)
    .option("--cluster-name <name>", `the cluster's name; peers and clients of another are refused (default: "tsraft")`)
    .option("--election-timeout-ms <ms>", "Raft election timeout (default: 1000)")
    .option("--snapshot-interval-secs <secs>", "save a snapshot this often; 0: never by time (default: 3600)")
    .option("--snapshot-log-index-margin <entries>", "also save one once this many entries were applied since the last; 0: off (default: 0)")
    .addOption(new Option("--sync", "fdatasync every log write (the default)"))
    .addOption(new Option("--no-sync", "do not fdatasync: faster, but a crash may lose acknowledged writes (tests and demos only)"))
    .option("--config <file>", "a YAML file of these settings, keyed by the flag names (server-address: ...); flags given here win");
  for (const option of credentialOptions()) command.addOption(option);
  command
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  tsraft serve --data ./data/8181 --server-address 127.0.0.1:8181 --initial-server-list 127.0.0.1:8181,127.0.0.1:8182,127.0.0.1:8183",
        "  tsraft serve --data ./data/8184 --server-address 127.0.0.1:8184 --join",
        "  tsraft serve --config ./server.yaml",
        "  tsraft serve --config ./server.yaml --cluster-secret-file ./cluster.secret   # peers and clients must hold the same secret",
        "",
        "Credentials: a flag wins over its environment variable (TSRAFT_CLUSTER_SECRET_FILE, TSRAFT_CLUSTER_SECRET,",
        "TSRAFT_TLS_CERT, TSRAFT_TLS_KEY, TSRAFT_TLS_CA), which wins over the config file.",
      ].join("\n"),
    )
    .action((flags: Record<string, string | boolean | undefined>, self: Command) => serve(flags, self));
}

/** What marks the line a server prints once it serves, for the programs that start servers and wait for it. */
export const READY_LINE = / ready: serving KV group /;
/** The end of a --no-sync server's ready line, which kv-bench checks; its stderr also warns what that risks. */
export const NOT_FLUSHED = "NOT flushed (--no-sync)";
const NO_SYNC_WARNING = "--no-sync: acknowledged writes stay in the page cache until the kernel writes them out; a crash of this machine (a power loss, a kernel panic; not a crash of this process) may lose them; for tests and demos only";

async function serve(flags: Record<string, string | boolean | undefined>, command: Command): Promise<void> {
  let settings: ServeSettings;
  let credentials: Credentials;
  try {
    settings = await settingsOf(flags, command);
    credentials = await loadCredentials(settings);
    if (settings.initialServerList.length === 0 && !settings.join && (await isEmptyFolder(settings.data))) {
      throw new RaftError("EINVAL", `${settings.data} holds no data yet: give --initial-server-list to found a cluster, or --join to wait to be added to a running one`);
    }
  } catch (error) {
    process.stderr.write(`tsraft serve: ${error instanceof RaftError ? plainMessage(error) : String(error)}\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  const prefix = `[tsraft ${settings.group}/${settings.serverAddress}]`;
  const info = (line: string): void => void process.stdout.write(`${line}\n`);
  const warn = (line: string): void => void process.stderr.write(`${line}\n`);
  let server: KvProcess;
  try {
    server = await startKvProcess({
      serverId: settings.serverAddress,
      ...(settings.listen !== undefined ? { listenAddress: settings.listen } : {}),
      dataDir: settings.data,
      groupId: settings.group,
      clusterName: settings.clusterName,
      initialServerList: settings.initialServerList,
      electionTimeoutMs: settings.electionTimeoutMs,
      snapshotIntervalSecs: settings.snapshotIntervalSecs,
      snapshotLogIndexMargin: settings.snapshotLogIndexMargin,
      sync: settings.sync,
      ...credentials,
      info,
      warn,
    });
  } catch (error) {
    warn(`${prefix} cannot start: ${error instanceof RaftError ? `${error.code}: ${plainMessage(error)}` : String(error)}`);
    process.exitCode = EXIT_FAILED;
    return;
  }
  const members = server.node.listPeers();
  info(`${prefix} ready: serving KV group "${settings.group}" of cluster "${settings.clusterName}" on ${settings.serverAddress}, data in ${settings.data}, ${settings.sync ? "flushed by fdatasync" : NOT_FLUSHED}`);
  if (credentials.clusterSecret === undefined && credentials.tls === undefined) {
    warn(`${prefix} no authentication: any process that reaches ${settings.serverAddress} may vote, append and call the services; give --cluster-secret-file or --tls-cert/--tls-key/--tls-ca (see tsraft serve --help)`);
  }
  if (members.includes(settings.serverAddress)) {
    info(`${prefix} voters: ${members.join(",")}`);
  } else {
    info(`${prefix} not a voter yet: waiting to be added, e.g. tsraft admin add-peer --group ${settings.group} --cluster-name ${settings.clusterName} --conf <a running member> --peer ${settings.serverAddress}`);
  }
  if (!settings.sync) warn(`${prefix} ${NO_SYNC_WARNING}`);
  if (acceptServerFaults((line) => warn(`${prefix} ${line}`))) warn(`${prefix} fault injection is on (${FAULT_INJECTION_ENV}=1): for nemesis runs only`);
  stopOnSignals(server, prefix, info, warn);
}

/** Flags given on the command line override the environment's credentials, which override the config file; commander's own defaults are not used, so flags and file can be told apart. */
async function settingsOf(flags: Record<string, string | boolean | undefined>, command: Command): Promise<ServeSettings> {
  const fromFile = typeof flags.config === "string" ? await readServeConfig(flags.config) : {};
  const fromFlags: Partial<Record<keyof ServeSettings, unknown>> = {};
  for (const setting of SERVE_SETTINGS) {
    const value = flags[camelCase(setting.key)];
    if (value === undefined || command.getOptionValueSource(camelCase(setting.key)) !== "cli") continue;
    try {
      fromFlags[setting.property] = typeof value === "boolean" ? value : setting.parse(value);
    } catch (error) {
      throw new RaftError("EINVAL", `--${setting.key}: ${error instanceof RaftError ? plainMessage(error) : String(error)}`);
    }
  }
  return mergeServeSettings({ ...fromFile, ...credentialsFromEnv(process.env) }, fromFlags);
}

function stopOnSignals(server: KvProcess, prefix: string, info: (line: string) => void, warn: (line: string) => void): void {
  let stopping = false;
  const stop = (why: string): void => {
    // A second signal means the operator will not wait for a clean stop.
    if (stopping) process.exit(EXIT_FAILED);
    stopping = true;
    info(`${prefix} ${why}: shutting down`);
    server.stop().then(
      () => {
        info(`${prefix} stopped`);
        process.exit(0);
      },
      (error: unknown) => {
        warn(`${prefix} shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(EXIT_FAILED);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  // Started by a parent with an IPC channel (npm start): stop with it, never outlive it holding the port.
  if (process.send !== undefined) process.on("disconnect", () => stop("the parent process is gone"));
}

async function isEmptyFolder(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw new RaftError("EINVAL", `cannot read --data ${path}: ${(error as Error).message}`);
  }
}

function camelCase(key: string): string {
  return key.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}
