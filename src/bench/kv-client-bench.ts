/**
 * `npm run bench:kv-client`: the CPU one KvClient spends per call, with no
 * server and no network. `--in-flight` workers call put (or get) in a closed
 * loop through a stand-in transport that decodes each request frame and
 * answers it on the next turn of the event loop; the process's CPU per call
 * is taken over `--windows` windows of `--window-secs`, stand-in included.
 * In `npm run bench` this client work is one of the serial stages of every
 * round trip. Prints each window's figure, then one JSON line.
 */
import { Command, Option } from "commander";
import { wholeNumberFlag } from "../bin/flag-parser.js";
import type { KvCallResult } from "../kv/commands.js";
import { KvClient } from "../kv/kv-client.js";
import { decodeKvRequest, encodeKvResponse } from "../kv/kv-codec.js";
import { KV_SERVICE } from "../kv/kv-service.js";
import { CLI_SERVICE } from "../node/cli-protocol.js";
import { requestOnlyTransport, type Transport } from "../transport/transport.js";
import { workloadOf } from "./kv/workload.js";

const KEY_COUNT = 100_000;
const WARMUP_MS = 2000;
/** The one member the stand-in transport plays. */
const MEMBER = "127.0.0.1:1";

interface Args {
  op: "put" | "get";
  inFlight: number;
  windows: number;
  windowSecs: number;
}

function parseArgs(): Args {
  return new Command("kv-client-bench")
    .description("the KV client's CPU per call, against a stand-in transport")
    .addOption(new Option("--op <op>", "the call measured").choices(["put", "get"]).default("put"))
    .option("--in-flight <n>", "calls in flight", wholeNumberFlag("--in-flight", 1, 4096), 256)
    .option("--windows <n>", "measured windows", wholeNumberFlag("--windows", 1, 100), 3)
    .option("--window-secs <s>", "seconds per window", wholeNumberFlag("--window-secs", 1, 600), 2)
    .parse()
    .opts<Args>();
}

/** Plays one member that leads the group: it answers the CLI's leader and configuration questions and every KV request, each on the next turn. */
function standInTransport(value: Uint8Array): Transport {
  const answerCli = (payload: Uint8Array): unknown => {
    const request = JSON.parse(Buffer.from(payload).toString("utf8")) as { op: string };
    if (request.op === "getLeader") return { leaderId: MEMBER, term: 1 };
    if (request.op === "getConfiguration") return { peers: [MEMBER], learners: [] };
    throw new Error(`the stand-in transport does not answer CLI op ${request.op}`);
  };
  const answerKv = (payload: Uint8Array): Uint8Array =>
    encodeKvResponse({ results: decodeKvRequest(payload).calls.map((call): KvCallResult => (call.kind === "write" ? { type: "ok" } : { type: "value", value })) });
  const answer = (service: string, payload: Uint8Array): Buffer => {
    if (service === CLI_SERVICE) return Buffer.from(JSON.stringify(answerCli(payload)));
    if (service === KV_SERVICE) return Buffer.from(answerKv(payload));
    throw new Error(`the stand-in transport serves no "${service}"`);
  };
  return requestOnlyTransport(
    (_address, service, payload) =>
      new Promise((resolve, reject) =>
        setImmediate(() => {
          try {
            resolve(answer(service, payload));
          } catch (error) {
            reject(error);
          }
        }),
      ),
  );
}

async function main(): Promise<void> {
  const args = parseArgs();
  const { keyOf, value } = workloadOf(KEY_COUNT);
  const client = new KvClient({ endpoints: MEMBER, transport: standInTransport(value) });
  let calls = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped) {
      const key = keyOf(Math.floor(Math.random() * KEY_COUNT));
      if (args.op === "put") await client.put(key, value);
      else await client.get(key);
      calls++;
    }
  };
  const workers = Array.from({ length: args.inFlight }, () => worker());
  await sleep(WARMUP_MS);
  const cpuUsPerCall: number[] = [];
  for (let window = 0; window < args.windows; window++) {
    const before = process.cpuUsage();
    calls = 0;
    await sleep(args.windowSecs * 1000);
    const used = process.cpuUsage(before);
    cpuUsPerCall.push(Math.round(((used.user + used.system) / calls) * 100) / 100);
    console.log(`${args.op} with ${args.inFlight} in flight: ${cpuUsPerCall.at(-1)} µs of CPU per call (client and stand-in transport), ${Math.round(calls / args.windowSecs)} calls/s`);
  }
  stopped = true;
  await Promise.all(workers);
  await client.close();
  console.log(JSON.stringify({ op: args.op, inFlight: args.inFlight, cpuUsPerCall }));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

await main();
