/**
 * A fresh three-member etcd cluster on loopback (etcd from Debian:
 * `apt-get install etcd-server`), driven through the etcd3 npm client, for a
 * side-by-side comparison on the same machine in the same run. etcd syncs its
 * WAL on every commit by default, as tsraft does with sync on.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import type { KvDriver } from "./load-generator.js";

const MEMBERS = 3;
const READY_TIMEOUT_MS = 30_000;
const READY_ATTEMPT_TIMEOUT_MS = 2_000;

export function etcdInstalled(): boolean {
  return spawnSync("etcd", ["--version"], { stdio: "ignore" }).status === 0;
}

export async function startEtcd(basePort: number): Promise<KvDriver> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-bench-etcd-"));
  const names = Array.from({ length: MEMBERS }, (_, i) => `m${i}`);
  const clientUrl = (i: number): string => `http://127.0.0.1:${basePort + 2 * i}`;
  const peerUrl = (i: number): string => `http://127.0.0.1:${basePort + 2 * i + 1}`;
  const initialCluster = names.map((name, i) => `${name}=${peerUrl(i)}`).join(",");
  const children: ChildProcess[] = names.map((name, i) =>
    spawn(
      "etcd",
      [
        "--name", name,
        "--data-dir", join(root, name),
        "--listen-client-urls", clientUrl(i),
        "--advertise-client-urls", clientUrl(i),
        "--listen-peer-urls", peerUrl(i),
        "--initial-advertise-peer-urls", peerUrl(i),
        "--initial-cluster", initialCluster,
        "--initial-cluster-state", "new",
        "--initial-cluster-token", "tsraft-bench",
        "--log-level", "error",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    ),
  );
  const output: string[] = [];
  for (const child of children) child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const client = new Etcd3({ hosts: names.map((_, i) => clientUrl(i)) });
  const stop = async (): Promise<void> => {
    client.close();
    await Promise.all(
      children.map(async (child) => {
        if (hasExited(child)) return;
        const closed = once(child, "close");
        child.kill("SIGTERM");
        await closed;
      }),
    );
    await rm(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    // Two members make a quorum: a third that could not start (its port taken) would go unnoticed.
    const exited = names.filter((_, i) => hasExited(children[i]!));
    if (exited.length > 0) {
      await stop();
      throw new Error(`etcd member ${exited.join(", ")} exited at start (is its port in use? see --base-port):\n${output.join("").slice(-2000)}`);
    }
    try {
      // The client sets no deadline of its own: a member port held by another program would hold this put forever.
      await withTimeout(client.put("tsraft-bench-ready").value("1").exec(), READY_ATTEMPT_TIMEOUT_MS);
      if (!children.some(hasExited)) break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`etcd did not become ready within ${READY_TIMEOUT_MS} ms: ${String(error)}\n${output.join("").slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return {
    name: "etcd",
    serverPids: children.map((child) => child.pid!),
    put: async (key, value) => {
      await client.put(key).value(value);
    },
    get: async (key) => {
      await client.get(key).buffer(); // linearizable: etcd's default read
    },
    close: stop,
  };
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
