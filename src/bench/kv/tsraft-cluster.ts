/**
 * A fresh three-process tsraft KV cluster on loopback (`tsraft serve`, fsync
 * on unless `sync` is false, data in a temp folder removed at the end), driven
 * through KvClient.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChildServer } from "../../bin/child-server.js";
import { KvClient } from "../../kv/kv-client.js";
import type { KvDriver } from "./load-generator.js";

const SERVERS = 3;
const READY_TIMEOUT_MS = 30_000;

export async function startTsraft(basePort: number, sync: boolean): Promise<KvDriver> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-bench-kv-"));
  const ids = Array.from({ length: SERVERS }, (_, i) => `127.0.0.1:${basePort + i}`);
  const output: string[] = [];
  const servers = ids.map(
    (id) =>
      new ChildServer(id, ["serve", "--data", join(root, id.replace(":", "_")), "--server-address", id, "--initial-server-list", ids.join(","), sync ? "--sync" : "--no-sync"], (line) => {
        output.push(`${id}: ${line}`);
        if (output.length > 200) output.shift();
      }),
  );
  const client = new KvClient({ endpoints: ids, timeoutMs: 30_000 });
  const stop = async (): Promise<void> => {
    await client.close();
    await Promise.all(servers.map((server) => server.stop()));
    await rm(root, { recursive: true, force: true });
  };
  try {
    await client.put("tsraft-bench-ready", "1", { timeoutMs: READY_TIMEOUT_MS });
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
