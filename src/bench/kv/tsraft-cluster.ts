/**
 * A fresh three-process tsraft KV cluster on loopback (`tsraft serve`, fsync
 * on unless `sync` is false, V8's helper threads sized for shared cores as in
 * npm start, data in a temp folder removed at the end), driven
 * through KvClient. With `cpuProfDir`, each server writes a V8 CPU profile
 * there when it stops.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { ChildServer, sharedCoresNodeArgs } from "../../bin/child-server.js";
import { NOT_FLUSHED, READY_LINE } from "../../bin/serve-command.js";
import { KvClient } from "../../kv/kv-client.js";
import { profilingNodeArgs } from "./cpu-profile.js";
import type { KvDriver } from "./load-generator.js";

const SERVERS = 3;
const READY_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 20;

export interface TsraftOptions {
  readonly sync: boolean;
  readonly cpuProfDir: string | null;
}

export async function startTsraft(basePort: number, { sync, cpuProfDir }: TsraftOptions): Promise<KvDriver> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-bench-kv-"));
  const ids = Array.from({ length: SERVERS }, (_, i) => `127.0.0.1:${basePort + i}`);
  const output: string[] = [];
  const readyLines = new Map<string, string>();
  const servers = ids.map((id) => {
    const name = id.replace(":", "_");
    const args = ["serve", "--data", join(root, name), "--server-address", id, "--initial-server-list", ids.join(","), sync ? "--sync" : "--no-sync"];
    const keepLine = (line: string): void => {
      output.push(`${id}: ${line}`);
      if (output.length > 200) output.shift();
      if (READY_LINE.test(line)) readyLines.set(id, line);
    };
    const nodeArgs = [...sharedCoresNodeArgs(SERVERS), ...(cpuProfDir === null ? [] : profilingNodeArgs(cpuProfDir, `server-${name}`))];
    return new ChildServer(id, args, keepLine, process.env, nodeArgs);
  });
  const client = new KvClient({ endpoints: ids, timeoutMs: 30_000 });
  const stop = async (): Promise<void> => {
    await client.close();
    await Promise.all(servers.map((server) => server.stop()));
    await rm(root, { recursive: true, force: true });
  };
  // When every server has exited, waiting out the timeout would tell nothing more.
  const allExited = Promise.all(servers.map((server) => server.exited)).then(() => "exited" as const);
  try {
    const ready = await Promise.race([client.put("tsraft-bench-ready", "1", { timeoutMs: READY_TIMEOUT_MS }), allExited]);
    if (ready === "exited") throw new Error("every server exited at start (are their ports in use? see --base-port)");
  } catch (error) {
    await stop();
    throw new Error(`the tsraft cluster did not become ready: ${String(error)}\n${output.join("\n")}`);
  }
  // Two servers make a quorum: a third that could not start (its port taken) would go unnoticed.
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (readyLines.size < SERVERS && servers.every((server) => server.running) && Date.now() < deadline) await delay(READY_POLL_MS);
  const addresses = (list: ChildServer[]): string => list.map((server) => server.address).join(", ");
  const exited = servers.filter((server) => !server.running);
  const silent = servers.filter((server) => server.running && !readyLines.has(server.address));
  const problems: string[] = [];
  if (exited.length > 0) problems.push(`tsraft server ${addresses(exited)} exited at start (is its port in use? see --base-port)`);
  if (silent.length > 0) problems.push(`tsraft server ${addresses(silent)} did not say it was ready within ${READY_TIMEOUT_MS / 1000} s`);
  if (problems.length > 0) {
    await stop();
    throw new Error(`${problems.join("; ")}:\n${output.join("\n")}`);
  }
  // A benchmark with fsync on must not measure a server that skips it, nor the other way round.
  const wrongFlush = [...readyLines.values()].filter((line) => line.endsWith(NOT_FLUSHED) === sync);
  if (wrongFlush.length > 0) {
    await stop();
    throw new Error(`asked for ${sync ? "--sync" : "--no-sync"}, but a server said otherwise:\n${wrongFlush.join("\n")}`);
  }
  return {
    name: "tsraft",
    serverPids: servers.map((server) => server.pid),
    put: async (key, value) => {
      await client.put(key, value);
    },
    get: async (key) => {
      await client.get(key);
    },
    close: stop,
  };
}
