/**
 * `tsraft kv get|put|del|scan|cas|seq|lock|watch --endpoints <server list>`:
 * the KV store from the command line, through KvClient (leader discovery,
 * redirects, retries within --timeout-ms). Keys and values are UTF-8 text.
 * Readable output by default; with --json one JSON object per result (a
 * watch prints one per event), bytes that are not UTF-8 as "valueBase64".
 * Exit codes: 0 done (a compare that did not hold or a lock held by another
 * is a result, not a failure), 1 the operation failed (stderr says why),
 * 2 bad usage.
 */
import { createReadStream } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { clientConnection, connectionOptions, type ConnectionFlags } from "./client-connection.js";
import { flagParser } from "./flag-parser.js";
import { parsePeerList } from "../cli/peer-list.js";
import { RaftError } from "../errors.js";
import { textOrNull } from "../kv/bytes.js";
import { MAX_VALUE_BYTES, type Consistency, type KvEntry, type LockState, type WatchEvent } from "../kv/commands.js";
import { KvClient } from "../kv/kv-client.js";
import { DEFAULT_KV_GROUP_ID } from "../kv/kv-service.js";
import { plainMessage, validateName } from "../transport/protocol.js";

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const DEFAULT_TIMEOUT_MS = 5000;

interface KvFlags extends ConnectionFlags {
  endpoints: string;
  group: string;
  timeoutMs: number;
  json?: boolean;
  consistency?: Consistency;
  [option: string]: unknown;
}

/** What an operation prints: readable lines and the JSON object. */
interface Outcome {
  readonly text: string;
  readonly json: Record<string, unknown>;
}

type Print = (outcome: Outcome) => void;

interface Operation {
  /** Name and arguments, commander style: "get <key>". */
  readonly usage: string;
  readonly description: string;
  readonly reads?: boolean;
  readonly options?: readonly Option[];
  readonly example: string;
  run(kv: KvClient, args: string[], flags: KvFlags, print: Print): Promise<void>;
}

const OPERATIONS: readonly Operation[] = [
  {
    usage: "get <key>",
    description: "print a key's value",
    reads: true,
    example: "tsraft kv get greeting --endpoints $E",
    run: async (kv, [key], flags, print) => {
      const value = await kv.get(key!, readOptions(flags));
      print({ text: value === null ? "(not found)" : shown(value), json: { key, ...bytesField("value", value) } });
    },
  },
  {
    usage: "put <key> [value]",
    description: "set a key's value (or the bytes of --value-file, - for standard input)",
    options: [new Option("--value-file <path>", "take the value from this file's bytes (- for standard input); command-line arguments are limited to 128 KiB")],
    example: "tsraft kv put greeting hello --endpoints $E",
    run: async (kv, [key, value], flags, print) => {
      await kv.put(key!, await valueOf(value, flags.valueFile as string | undefined));
      print({ text: "OK", json: { key, ok: true } });
    },
  },
  {
    usage: "del <key>",
    description: "delete a key",
    example: "tsraft kv del greeting --endpoints $E",
    run: async (kv, [key], _flags, print) => {
      const deleted = await kv.delete(key!);
      print({ text: deleted ? "deleted" : "(not found)", json: { key, deleted } });
    },
  },
  {
    usage: "scan [start] [end]",
    description: "print the entries with start <= key < end (default: every key), in key order",
    reads: true,
    options: [
      new Option("--prefix <prefix>", "the keys that start with this (instead of start and end)"),
      new Option("--limit <n>", "entries at most").argParser(integerFlag(1)).default(1000),
      new Option("--reverse", "from the last key down"),
      new Option("--keys-only", "print the keys only"),
    ],
    example: "tsraft kv scan --prefix user/ --endpoints $E",
    run: async (kv, [start, end], flags, print) => {
      if (flags.prefix !== undefined && (start !== undefined || end !== undefined)) throw new RaftError("EINVAL", "give either --prefix or start and end, not both");
      const prefix = typeof flags.prefix === "string" ? flags.prefix : null;
      const from = prefix ?? start ?? "";
      const to = prefix !== null ? prefixEnd(prefix) : (end ?? null);
      const options = { ...readOptions(flags), limit: flags.limit as number, keysOnly: flags.keysOnly === true };
      const entries = flags.reverse === true ? await kv.reverseScan(from, to, options) : await kv.scan(from, to, options);
      const lines = entries.map((entry) => (flags.keysOnly === true ? shown(entry.key) : `${shown(entry.key)} = ${shown(entry.value)}`));
      print({ text: lines.length === 0 ? "(no entries)" : lines.join("\n"), json: { entries: entries.map((entry) => entryJson(entry, flags.keysOnly === true)) } });
    },
  },
  {
    usage: "cas <key> <value>",
    description: "compare and set: write the value only if the key holds --expect (or, with --absent, does not exist)",
    options: [new Option("--expect <value>", "the value the key must hold"), new Option("--absent", "the key must not exist")],
    example: "tsraft kv cas greeting bonjour --expect hello --endpoints $E",
    run: async (kv, [key, value], flags, print) => {
      const absent = flags.absent === true;
      if (absent === (typeof flags.expect === "string")) throw new RaftError("EINVAL", "give exactly one of --expect <value> and --absent");
      const swapped = await kv.compareAndPut(key!, absent ? null : (flags.expect as string), value!);
      const why = absent ? "the key exists" : "the key does not hold the expected value";
      print({ text: swapped ? "swapped" : `not swapped: ${why}`, json: { key, swapped } });
    },
  },
  {
    usage: "seq <key>",
    description: "reserve --step values of a sequence and print them as [start, end); --step 0 reads it",
    options: [new Option("--step <n>", "values to reserve").argParser(integerFlag(0)).default(1), new Option("--reset", "reset the sequence to 0 instead")],
    example: "tsraft kv seq order-id --step 10 --endpoints $E",
    run: async (kv, [key], flags, print) => {
      if (flags.reset === true) {
        const previous = await kv.resetSequence(key!);
        print({ text: `reset to 0 (it was ${previous})`, json: { key, previous } });
        return;
      }
      const { start, end } = await kv.getSequence(key!, flags.step as number);
      print({ text: start === end ? `${start}` : `[${start}, ${end})`, json: { key, start, end } });
    },
  },
  {
    usage: "lock <action> <key>",
    description: "acquire, renew or release a distributed lock (action: acquire | renew | release); prints the fencing token",
    options: [
      new Option("--owner <name>", "who holds the lock").default("tsraft-cli"),
      new Option("--lease-ms <ms>", "lease of acquire and renew").argParser(integerFlag(1)).default(30_000),
      new Option("--token <n>", "the fencing token of the acquisition (renew, release)").argParser(integerFlag(1)),
    ],
    example: "tsraft kv lock acquire jobs/nightly --owner worker-1 --endpoints $E",
    run: async (kv, [action, key], flags, print) => {
      const owner = flags.owner as string;
      const token = flags.token as number | undefined;
      if (action !== "acquire" && token === undefined) throw new RaftError("EINVAL", `lock ${action} needs --token, the fencing token that acquire printed`);
      switch (action) {
        case "acquire":
          print(lockOutcome(key!, await kv.acquireLock(key!, owner, flags.leaseMs as number)));
          return;
        case "renew":
          print(lockOutcome(key!, await kv.renewLock(key!, owner, token!, flags.leaseMs as number)));
          return;
        case "release": {
          const released = await kv.releaseLock(key!, owner, token!);
          print({ text: released ? "released" : `not released: ${owner} does not hold it with token ${token}`, json: { key, released } });
          return;
        }
        default:
          throw new RaftError("EINVAL", `lock action must be acquire, renew or release, got "${action}"`);
      }
    },
  },
  {
    usage: "watch <key>",
    description: "print the changes of a key (or, with --prefix, of every key starting with it) as they happen, until Ctrl-C",
    options: [
      new Option("--prefix", "every key that starts with <key>"),
      new Option("--from-index <n>", "from this log index (to resume: the last printed index + 1); default: from now").argParser(integerFlag(1)),
      new Option("--count <n>", "stop after this many events").argParser(integerFlag(1)),
    ],
    example: "tsraft kv watch user/ --prefix --endpoints $E",
    run: async (kv, [key], flags, print) => {
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        let printed = 0;
        const options = { prefix: flags.prefix === true, signal: stop.signal, ...(flags.fromIndex !== undefined ? { fromIndex: flags.fromIndex as number } : {}) };
        for await (const event of kv.watch(key!, options)) {
          print(eventOutcome(event));
          if (++printed === flags.count) break;
        }
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    },
  },
];

/** Adds `kv` and its operations to the `tsraft` command. */
export function addKvCommand(program: Command): void {
  const kv = program
    .command("kv")
    .description("read and write the replicated KV store of a running cluster (see tsraft serve)")
    .addHelpText("after", ["", "Examples (E=127.0.0.1:8181,127.0.0.1:8182,127.0.0.1:8183):", ...OPERATIONS.map((op) => `  ${op.example}`)].join("\n"));
  for (const operation of OPERATIONS) {
    const command = kv
      .command(operation.usage)
      .description(operation.description)
      .requiredOption("--endpoints <list>", "servers of the cluster to start from, comma-separated host:port", flagParser((text) => (parsePeerList(text, { what: "--endpoints" }), text)))
      .option("--group <id>", "the KV group id", flagParser(nameFlag("a group id")), DEFAULT_KV_GROUP_ID)
      .option("--timeout-ms <ms>", "give up after this long, redirects and retries included", integerFlag(1), DEFAULT_TIMEOUT_MS)
      .option("--json", "print JSON: one object per result (per event for watch)");
    for (const option of connectionOptions()) command.addOption(option);
    if (operation.reads) {
      command.addOption(new Option("--consistency <level>", "linearizable (ReadIndex on the leader), lease, or stale (any server, may be behind)").choices(["linearizable", "lease", "stale"]).default("linearizable"));
    }
    for (const option of operation.options ?? []) command.addOption(option);
    command.action((...params: unknown[]) => {
      const self = params.at(-1) as Command;
      return run(operation, self.args, self.opts<KvFlags>());
    });
  }
}

async function run(operation: Operation, args: string[], flags: KvFlags): Promise<void> {
  const name = operation.usage.split(" ")[0]!;
  let kv: KvClient | null = null;
  const print: Print = (outcome) => void process.stdout.write(`${flags.json ? JSON.stringify(outcome.json) : outcome.text}\n`);
  try {
    const connection = await clientConnection(flags);
    kv = new KvClient({ endpoints: flags.endpoints, groupId: flags.group, timeoutMs: flags.timeoutMs, ...connection });
    await operation.run(kv, args, flags, print);
  } catch (error) {
    const [code, message] = error instanceof RaftError ? [error.code, plainMessage(error)] : ["EUNEXPECTED", `unexpected failure: ${String(error)}`];
    process.stderr.write(`tsraft kv ${name}: ${code}: ${message}\n`);
    if (flags.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
    // Input the store refuses (EINVAL) is bad usage; anything else is a failed operation.
    process.exitCode = code === "EINVAL" ? EXIT_USAGE : EXIT_FAILED;
  } finally {
    await kv?.close();
  }
}

/** The value argument, or the bytes of --value-file (at most MAX_VALUE_BYTES, read no further). */
async function valueOf(argument: string | undefined, valueFile: string | undefined): Promise<string | Buffer> {
  if ((argument === undefined) === (valueFile === undefined)) throw new RaftError("EINVAL", "give the value either as an argument or with --value-file <path> (- for standard input), not both");
  if (argument !== undefined) return argument;
  const chunks: Buffer[] = [];
  let bytes = 0;
  const source = valueFile === "-" ? process.stdin : createReadStream(valueFile!);
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > MAX_VALUE_BYTES) throw new RaftError("EINVAL", `the value of --value-file ${valueFile} is above MAX_VALUE_BYTES ${MAX_VALUE_BYTES}`);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof RaftError) throw error;
    throw new RaftError("EINVAL", `cannot read --value-file ${valueFile}: ${(error as Error).message}`);
  } finally {
    if (valueFile !== "-") (source as ReturnType<typeof createReadStream>).destroy();
  }
  return Buffer.concat(chunks, bytes);
}

function readOptions(flags: KvFlags): { consistency: Consistency } {
  return { consistency: flags.consistency ?? "linearizable" };
}

/** Bytes for a person: the text, or a note with base64 when they are not UTF-8. */
function shown(bytes: Uint8Array): string {
  const text = textOrNull(bytes);
  return text ?? `<${bytes.byteLength} bytes, base64 ${Buffer.from(bytes).toString("base64")}>`;
}

/** Bytes in JSON: { name: text } or, when not UTF-8, { nameBase64: ... }; null stays null. */
function bytesField(name: string, bytes: Uint8Array | null): Record<string, string | null> {
  if (bytes === null) return { [name]: null };
  const text = textOrNull(bytes);
  return text !== null ? { [name]: text } : { [`${name}Base64`]: Buffer.from(bytes).toString("base64") };
}

function entryJson(entry: KvEntry, keysOnly: boolean): Record<string, unknown> {
  return keysOnly ? bytesField("key", entry.key) : { ...bytesField("key", entry.key), ...bytesField("value", entry.value) };
}

function lockOutcome(key: string, lock: LockState): Outcome {
  const until = new Date(lock.expiresAtMs).toISOString();
  const text = lock.acquired ? `acquired: token ${lock.token}, lease until ${until}` : lock.owner === "" ? "not acquired: not held (acquire it first)" : `not acquired: held by ${lock.owner} until ${until}`;
  return { text, json: { key, ...lock } };
}

function eventOutcome(event: WatchEvent): Outcome {
  const text = event.type === "put" ? `${event.index} put ${shown(event.key)} = ${shown(event.value!)}` : `${event.index} delete ${shown(event.key)}`;
  return { text, json: { index: event.index, type: event.type, ...bytesField("key", event.key), ...(event.type === "put" ? bytesField("value", event.value) : {}) } };
}

/** The first key after every key that starts with `prefix`, or null when there is none (all 0xff bytes). */
function prefixEnd(prefix: string): string | null {
  // Characters compare as their UTF-8 bytes do; bump the last one below U+10FFFF.
  const points = [...prefix];
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) return points.join("") + String.fromCodePoint(last + 1 === 0xd800 ? 0xe000 : last + 1);
  }
  return null;
}

function integerFlag(min: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(`expected a whole number of at least ${min}, got "${text}"`);
    return value;
  };
}

function nameFlag(what: string): (text: string) => string {
  return (text) => {
    validateName(text, what);
    return text;
  };
}

