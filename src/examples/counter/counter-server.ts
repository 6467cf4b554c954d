#!/usr/bin/env node
/**
 * One counter replica as a process:
 *   node dist/src/examples/counter/counter-server.js --id 127.0.0.1:8081 \
 *     --peers 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 --data ./data/counter/8081
 */
import { Command } from "commander";
import { integerFlag, peerIdFlag, peerListFlag } from "./cli-flags.js";
import { startCounterReplica, type CounterReplica } from "./counter-replica.js";

interface ServerFlags {
  id: string;
  peers: string[];
  data: string;
  electionTimeoutMs: number;
  snapshotIntervalSecs: number;
  snapshotLogIndexMargin: number;
}

const program = new Command("counter-server")
  .description("a replica of the replicated counter (SOFAJraft's counter example on tsraft)")
  .requiredOption("--id <host:port>", "this replica's peer id; it listens on that address", peerIdFlag)
  .requiredOption("--peers <list>", "every replica's peer id, comma-separated, this one included", peerListFlag)
  .requiredOption("--data <dir>", "where this replica keeps its log and snapshots (one folder per replica)")
  .option("--election-timeout-ms <ms>", "Raft election timeout", integerFlag(50), 1000)
  .option("--snapshot-interval-secs <secs>", "save a snapshot this often (0: never by time)", integerFlag(0), 30)
  .option("--snapshot-log-index-margin <entries>", "also save one once this many entries were applied since the last (0: off)", integerFlag(0), 0)
  .parse();

const flags = program.opts<ServerFlags>();
if (!flags.peers.includes(flags.id)) program.error(`error: --id ${flags.id} is not in --peers (${flags.peers.join(",")}); list every replica, this one included`);

const log = (line: string): void => console.log(`[counter ${flags.id}] ${line}`);
let replica: CounterReplica;
try {
  replica = await startCounterReplica({ ...flags, dataDir: flags.data, log });
} catch (error) {
  console.error(`error: cannot start the counter replica ${flags.id}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
log(`serving; peers ${flags.peers.join(",")}; data in ${flags.data}`);

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  // A second signal means the operator will not wait for a clean stop.
  if (stopping) process.exit(1);
  stopping = true;
  log(`${signal}: shutting down`);
  replica.stop().then(
    () => {
      log("stopped");
      process.exit(0);
    },
    (error: unknown) => {
      console.error(`error: shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
