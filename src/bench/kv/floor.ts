/**
 * The replication floor: a client, a leader and two followers as separate
 * processes on loopback (floor-server.ts), one write in flight, each write as
 * large as a put of the benchmark. Its p50 is what this machine allows put
 * with 1 in flight before any Raft, codec or state machine work: the hops
 * between four processes on two cores and a flush on three logs sharing one disk.
 */
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "hdr-histogram-js";

const SERVER_SCRIPT = fileURLToPath(new URL("./floor-server.js", import.meta.url));

export interface FloorResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** `flush` false measures the floor without fdatasync, beside a cluster run with --no-sync. */
export async function measureFloor(basePort: number, messageBytes: number, warmupMs: number, measureMs: number, flush: boolean): Promise<FloorResult> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-bench-floor-"));
  const children: ChildProcess[] = [];
  const start = async (role: string, ...args: string[]): Promise<void> => {
    const child = fork(SERVER_SCRIPT, [role, flush ? "flush" : "no-flush", ...args], { stdio: "ignore" });
    children.push(child);
    await once(child, "message");
  };
  try {
    await start("follower", String(basePort + 1), join(root, "f1"));
    await start("follower", String(basePort + 2), join(root, "f2"));
    await start("leader", String(basePort), join(root, "leader"), String(basePort + 1), String(basePort + 2));
    const socket = net.connect(basePort, "127.0.0.1").setNoDelay(true);
    await once(socket, "connect");
    let answered: (() => void) | null = null;
    let failure: Error | null = null;
    socket.on("data", () => answered?.());
    socket.on("close", () => {
      failure = new Error("the replication floor's leader closed the connection (a process of the floor died)");
      answered?.();
    });
    const message = Buffer.alloc(messageBytes, 97);
    const histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    const endsAt = performance.now() + warmupMs + measureMs;
    const measureFrom = performance.now() + warmupMs;
    while (performance.now() < endsAt) {
      const startNs = process.hrtime.bigint();
      await new Promise<void>((resolve) => {
        answered = resolve;
        socket.write(message);
      });
      if (failure !== null) throw failure;
      if (performance.now() >= measureFrom) histogram.recordValue(Number((process.hrtime.bigint() - startNs) / 1000n));
    }
    socket.destroy();
    const result = { p50Ms: histogram.getValueAtPercentile(50) / 1000, p99Ms: histogram.getValueAtPercentile(99) / 1000 };
    histogram.destroy();
    return result;
  } finally {
    for (const child of children) child.kill();
    await rm(root, { recursive: true, force: true });
  }
}
