/**
 * A fresh three-process tsraft KV cluster on loopback (`tsraft serve`, fsync
 * on unless `sync` is false, data in a temp folder removed at the end), driven
 * through KvClient. With `cpuProfDir`, each server writes a V8 CPU profile
 * there when it stops.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChildServer } from "../../bin/child-server.js";
import { KvClient } from "../../kv/kv-client.js";
import { profilingNodeArgs } from "./cpu-profile.js";
import type { KvDriver } from "./load-generator.js";

const SERVERS = 3;
const READY_TIMEOUT_MS = 30_000;

export interface TsraftOptions {
  readonly sync: boolean;
  readonly cpuProfDir: string | null;
}

export async function startTsraft(basePort: number, { sync, cpuProfDir }: TsraftOptions): Promise<KvDriver> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-bench-kv-"));
  const ids = Array.from({ length: SERVERS }, (_, i) => `127.0.0.1:${basePort + i}`);
  const output: string[] = [];
  const servers = ids.map((id) => {
    const name = id.replace(":", "_");
    const args = ["serve", "--data", join(root, name), "--server-address", id, "--initial-server-list", ids.join(","), sync ? "--sync" : "--no-sync"];
    const keepLine = (line: string): void => {
      output.push(`${id}: ${line}`);
      if (output.length > 200) output.shift();
    };
    return new ChildServer(id, args, keepLine, process.env, cpuProfDir === null ? [] : profilingNodeArgs(cpuProfDir, `server-${name}`));
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
    if (ready === "exited") throw new Error("every server exited at start");
  } catch (error) {
    await stop();
    throw new Error(`the tsraft cluster did not become ready: ${String(error)}\n${output.join("\n")}`);
  }
  // Two servers make a quorum: a third that could not start (its port taken) would go unnoticed.
  const exited = servers.filter((server) => !server.running);
  if (exited.length > 0) {
    await stop();
    throw new Error(`tsraft server ${exited.map((server) => server.address).join(", ")} exited at start (is its port in use? see --base-port):\n${output.join("\n")}`);
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
