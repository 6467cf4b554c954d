/**
 * `tsraft admin <operation> --group G --conf <server list> [arguments]`: every
 * CliService operation from the command line, against a running cluster.
 * Readable output by default, one JSON object with --json. Exit codes: 0 done,
 * 1 the operation failed (unreachable cluster, no quorum, a catch-up that
 * failed, refused credentials, ...), 2 bad usage (a bad peer id, a missing
 * option, a credential file that is missing or open to other users).
 */
import { Command, Option } from "commander";
import { flagParser } from "./flag-parser.js";
import { CliService, type ConfigurationChange, type GroupConfiguration, type SnapshotPoint } from "../cli/cli-service.js";
import { LEARNER_SUFFIX, parsePeerIds, parsePeerList, type PeerList } from "../cli/peer-list.js";
import type { NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import { parsePeerId } from "../transport/peer-address.js";
import { plainMessage, validateName } from "../transport/protocol.js";
import { TcpTransport } from "../transport/tcp-transport.js";
import { clientConnection, connectionOptions, type ClientConnection, type ConnectionFlags } from "./client-connection.js";

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const DEFAULT_TIMEOUT_MS = 10_000;

interface AdminFlags extends ConnectionFlags {
  group?: string;
  groups?: string[];
  conf: PeerList;
  timeoutMs: number;
  json?: boolean;
  peer?: NodeId;
  peers?: NodeId[];
  learners?: NodeId[];
}

/** What an operation prints: readable lines, or the JSON object (the group and flags are added by the caller). */
interface Outcome {
  readonly text: string;
  readonly json: Record<string, unknown>;
}

interface Operation {
  readonly name: string;
  readonly description: string;
  readonly options?: readonly Option[];
  /** rebalance takes --groups instead of --group. */
  readonly manyGroups?: boolean;
  run(cli: CliService, flags: AdminFlags & { group: string }): Promise<Outcome>;
}

const peerOption = (required: boolean, what: string): Option => {
  const option = new Option("--peer <id>", `${what} (host:port[:idx[:priority]])`).argParser(flagParser(peerId));
  return required ? option.makeOptionMandatory() : option;
};
const listOption = (flag: string, what: string, parse: (text: string) => NodeId[]): Option =>
  new Option(`${flag} <list>`, `${what}, comma-separated peer ids`).argParser(flagParser(parse)).makeOptionMandatory();
const peerId = (text: string): NodeId => {
  parsePeerId(text);
  return text;
};
const voters = (text: string): NodeId[] => parsePeerIds(text, { what: "the list" });
/** Learner lists take ids with or without the /learner suffix; reset-learners also takes "" (no learners). */
const learners =
  (allowEmpty: boolean) =>
  (text: string): NodeId[] => {
    const list = parsePeerList(text, { what: "the list", allowEmpty });
    return [...list.peers, ...list.learners];
  };

const change = (run: (cli: CliService, flags: AdminFlags & { group: string }) => Promise<ConfigurationChange>) =>
  async (cli: CliService, flags: AdminFlags & { group: string }): Promise<Outcome> => {
    const { before, after } = await run(cli, flags);
    return { text: describeChange(flags.group, before, after), json: { before, after } };
  };

const listing = (label: string, key: string, run: (cli: CliService, group: string, conf: PeerList) => Promise<NodeId[]>) =>
  async (cli: CliService, flags: AdminFlags & { group: string }): Promise<Outcome> => {
    const ids = await run(cli, flags.group, flags.conf);
    return { text: `${label} of group "${flags.group}" (${ids.length}): ${ids.join(", ") || "none"}`, json: { [key]: ids } };
  };

const OPERATIONS: readonly Operation[] = [
  { name: "add-peer", description: "add a voter; it catches up with the leader's log first", options: [peerOption(true, "the new voter")], run: change((cli, f) => cli.addPeer(f.group, f.conf, f.peer!)) },
  { name: "remove-peer", description: "remove a voter", options: [peerOption(true, "the voter to remove")], run: change((cli, f) => cli.removePeer(f.group, f.conf, f.peer!)) },
  {
    name: "change-peers",
    description: "replace the voters (learners named here are promoted)",
    options: [listOption("--peers", "the new voters", voters)],
    run: change((cli, f) => cli.changePeers(f.group, f.conf, f.peers!)),
  },
  { name: "add-learners", description: "add learners (they replicate the log without voting)", options: [listOption("--learners", "the new learners", learners(false))], run: change((cli, f) => cli.addLearners(f.group, f.conf, f.learners!)) },
  { name: "remove-learners", description: "remove learners", options: [listOption("--learners", "the learners to remove", learners(false))], run: change((cli, f) => cli.removeLearners(f.group, f.conf, f.learners!)) },
  {
    name: "reset-learners",
    description: 'make exactly these the learners (--learners "" for none)',
    options: [listOption("--learners", "the learners", learners(true))],
    run: change((cli, f) => cli.resetLearners(f.group, f.conf, f.learners!)),
  },
  { name: "learner2follower", description: "promote a learner to a voter", options: [peerOption(true, "the learner")], run: change((cli, f) => cli.learner2Follower(f.group, f.conf, f.peer!)) },
  {
    name: "transfer-leader",
    description: "hand leadership to a voter (default: the most up-to-date one) and wait until it leads",
    options: [peerOption(false, "the new leader")],
    run: async (cli, f) => {
      const leader = await cli.transferLeader(f.group, f.conf, f.peer ?? "any");
      return { text: `leader of group "${f.group}": ${leader}`, json: { leader } };
    },
  },
  {
    name: "snapshot",
    description: "save a snapshot on a peer (default: the leader) and compact its log",
    options: [peerOption(false, "the peer to snapshot")],
    run: async (cli, f) => {
      const snapshot: SnapshotPoint | null = await cli.snapshot(f.group, f.conf, f.peer);
      const where = f.peer ?? "the leader";
      const text = snapshot === null ? `group "${f.group}": nothing was applied on ${where} since its last snapshot` : `group "${f.group}": snapshot of ${where} at index ${snapshot.index} (term ${snapshot.term})`;
      return { text, json: { snapshot } };
    },
  },
  {
    name: "reset-peer",
    description: "UNSAFE: force the voters on one peer, without consensus, when a majority is lost for good (run it on every survivor)",
    options: [peerOption(true, "the surviving peer to reset"), listOption("--peers", "the voters to force", voters)],
    run: async (cli, f) => {
      process.stderr.write(
        `tsraft admin reset-peer: WARNING: forcing the voters of group "${f.group}" on ${f.peer} without consensus. ` +
          "Writes only the lost peers held are gone; a lost peer that comes back as it was may form a second cluster: wipe it and add it back as a new peer.\n",
      );
      const conf = await cli.resetPeer(f.group, f.peer!, f.peers!);
      return { text: `group "${f.group}" on ${f.peer}: voters forced to ${conf.peers.join(", ")}; it campaigns now`, json: { peer: f.peer, peers: conf.peers, learners: conf.learners } };
    },
  },
  {
    name: "get-leader",
    description: "print the leader",
    run: async (cli, f) => {
      const leader = await cli.getLeader(f.group, f.conf);
      return { text: `leader of group "${f.group}": ${leader}`, json: { leader } };
    },
  },
  {
    name: "get-configuration",
    description: "print the leader, the voters and the learners, as the leader holds them",
    run: async (cli, f) => {
      const conf: GroupConfiguration = await cli.getConfiguration(f.group, f.conf);
      const text = [`group "${f.group}"`, `  leader:   ${conf.leaderId}`, `  peers:    ${conf.peers.join(", ") || "none"}`, `  learners: ${conf.learners.join(", ") || "none"}`].join("\n");
      return { text, json: { leader: conf.leaderId, peers: conf.peers, learners: conf.learners } };
    },
  },
  { name: "get-peers", description: "print the voters", run: listing("peers", "peers", (cli, g, c) => cli.getPeers(g, c)) },
  { name: "get-alive-peers", description: "print the voters the leader heard from within an election timeout", run: listing("alive peers", "alivePeers", (cli, g, c) => cli.getAlivePeers(g, c)) },
  { name: "get-learners", description: "print the learners", run: listing("learners", "learners", (cli, g, c) => cli.getLearners(g, c)) },
  { name: "get-alive-learners", description: "print the learners the leader heard from within an election timeout", run: listing("alive learners", "aliveLearners", (cli, g, c) => cli.getAliveLearners(g, c)) },
  {
    name: "rebalance",
    description: "spread the leaders of several groups (on the same peers) evenly over those peers",
    manyGroups: true,
    run: async (cli, f) => {
      const leaders = await cli.rebalance(f.groups!, f.conf);
      const text = [...leaders].map(([group, leader]) => `leader of group "${group}": ${leader}`).join("\n");
      return { text, json: { leaders: Object.fromEntries(leaders) } };
    },
  },
];

/** Adds `admin` and its operations to the `tsraft` command. */
export function addAdminCommand(program: Command): void {
  const admin = program
    .command("admin")
    .description("change and inspect the membership and leadership of a running group (SOFAJraft's CliService)")
    .addHelpText("after", `\nExample:\n  tsraft admin add-peer --group g1 --conf 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 --peer 127.0.0.1:8084`);
  for (const operation of OPERATIONS) {
    const command = admin.command(operation.name).description(operation.description);
    if (operation.manyGroups) command.requiredOption("--groups <ids>", "the group ids, comma-separated", flagParser(groupsFlag));
    else command.requiredOption("--group <id>", "the group id", flagParser(groupFlag));
    command
      .requiredOption("--conf <list>", `peers of the group to ask, comma-separated host:port[:idx[:priority]], learners with ${LEARNER_SUFFIX}`, flagParser((text) => parsePeerList(text, { what: "the list" })))
      .option("--timeout-ms <ms>", "give up after this long, redirects and retries included", flagParser(timeoutFlag), DEFAULT_TIMEOUT_MS)
      .option("--json", "print one JSON object instead of text");
    for (const option of connectionOptions()) command.addOption(option);
    for (const option of operation.options ?? []) command.addOption(option);
    command.action((flags: AdminFlags) => run(operation, flags));
  }
}

async function run(operation: Operation, flags: AdminFlags): Promise<void> {
  const group = flags.group ?? (flags.groups ?? []).join(",");
  let connection: ClientConnection;
  try {
    connection = await clientConnection(flags);
  } catch (error) {
    process.stderr.write(`tsraft admin ${operation.name}: ${error instanceof RaftError ? plainMessage(error) : String(error)}\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  let transport: TcpTransport | null = null;
  try {
    transport = await TcpTransport.start({ ...connection, defaultRequestTimeoutMs: flags.timeoutMs });
    const outcome = await operation.run(new CliService(transport, { timeoutMs: flags.timeoutMs }), { ...flags, group });
    const scope = operation.manyGroups ? { groups: flags.groups } : { group };
    process.stdout.write(`${flags.json ? JSON.stringify({ ...scope, ...outcome.json }) : outcome.text}\n`);
  } catch (error) {
    // Anything but a RaftError is a bug here: say so rather than dress it up with a code.
    const [code, message] = error instanceof RaftError ? [error.code, plainMessage(error)] : ["EUNEXPECTED", `unexpected failure: ${String(error)}`];
    process.stderr.write(`tsraft admin ${operation.name}: ${code}: ${message}\n`);
    if (flags.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
    process.exitCode = EXIT_FAILED;
  } finally {
    await transport?.close();
  }
}

function describeChange(group: string, before: PeerList, after: PeerList): string {
  const line = (label: string, from: readonly NodeId[], to: readonly NodeId[]): string => {
    const was = from.join(", ") || "none";
    const now = to.join(", ") || "none";
    return `  ${label.padEnd(9)} ${was === now ? `${now} (unchanged)` : `${was} -> ${now}`}`;
  };
  return [`group "${group}": configuration changed`, line("peers:", before.peers, after.peers), line("learners:", before.learners, after.learners)].join("\n");
}


function timeoutFlag(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new RaftError("EINVAL", `expected a whole number of milliseconds of at least 1, got "${text}"`);
  return value;
}

function groupFlag(text: string): string {
  validateName(text, "a group id");
  return text;
}

function groupsFlag(text: string): string[] {
  const groups = text.split(",").map((group) => group.trim());
  if (groups.some((group) => group.length === 0)) throw new RaftError("EINVAL", `expected comma-separated group ids such as g1,g2,g3, got "${text}"`);
  groups.forEach(groupFlag);
  const repeated = groups.find((group, i) => groups.indexOf(group) !== i);
  if (repeated !== undefined) throw new RaftError("EINVAL", `group "${repeated}" is listed twice`);
  return groups;
}
