#!/usr/bin/env node
/**
 * The counter's command-line client:
 *   node dist/src/examples/counter/counter-client.js --peers 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 incrementAndGet 5
 *   node dist/src/examples/counter/counter-client.js --peers 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 get
 * Prints the counter's value; on failure, the error on stderr and exit code 1.
 */
import { Command, InvalidArgumentError } from "commander";
import { RaftError } from "../../index.js";
import { integerFlag, peerListFlag } from "./cli-flags.js";
import { callCounter } from "./counter-client-api.js";
import { validateDelta, type CounterRequest } from "./counter-protocol.js";

interface ClientFlags {
  peers: string[];
  attempts: number;
  timeoutMs: number;
}

const program = new Command("counter-client")
  .description("calls the replicated counter")
  .requiredOption("--peers <list>", "the replicas' peer ids, comma-separated; any one reachable member will do", peerListFlag)
  .option("--attempts <n>", "requests to send before giving up, following leader hints included", integerFlag(1), 12)
  .option("--timeout-ms <ms>", "how long to wait for each answer", integerFlag(1), 3000);

program
  .command("incrementAndGet")
  .description("adds <delta> to the counter on the leader and prints the new value")
  .argument("<delta>", "an integer, negative to decrement", (text: string) => {
    if (!/^\s*-?\d+\s*$/.test(text)) throw new InvalidArgumentError(`expected an integer, got "${text}"`);
    try {
      return validateDelta(Number(text));
    } catch (error) {
      throw new InvalidArgumentError(error instanceof RaftError ? error.message.replace(/^EINVAL: /, "") : String(error));
    }
  })
  .action((delta: number) => run({ op: "incrementAndGet", delta }));

program
  .command("get")
  .description("prints the counter's value, read linearizably (ReadIndex) on whichever member answers")
  .action(() => run({ op: "get" }));

async function run(request: CounterRequest): Promise<void> {
  const flags = program.opts<ClientFlags>();
  try {
    console.log(await callCounter(flags.peers, request, { attempts: flags.attempts, requestTimeoutMs: flags.timeoutMs }));
  } catch (error) {
    console.error(`error: ${request.op} failed: ${error instanceof RaftError ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}

await program.parseAsync();
