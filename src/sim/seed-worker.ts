/** Worker thread entry for runSeeds: runs the chunks of seeds it is sent and replies with the results. */
import { parentPort } from "node:worker_threads";
import { runSeed, type SeedResult } from "./run-seed.js";
import type { ChunkReply, ChunkRequest } from "./run-seeds.js";

if (!parentPort) throw new Error("seed-worker.js runs as a worker thread of runSeeds()");
const port = parentPort;
port.on("message", (request: ChunkRequest) => {
  const results: SeedResult[] = [];
  for (let seed = request.from; seed < request.to; seed++) {
    const result = runSeed(seed, request.options);
    results.push(result.ok ? { ...result, trace: [] } : result);
  }
  const reply: ChunkReply = { results };
  port.postMessage(reply);
});
