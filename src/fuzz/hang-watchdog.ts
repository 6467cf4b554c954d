/**
 * Catches a fuzzed decoder that hangs. A synchronous loop cannot be
 * interrupted from its own thread, so a watchdog thread watches a heartbeat
 * the fuzz runner bumps before every input; when it stops for hangMs, the
 * watchdog prints what replays the stuck input (property, seed and
 * fast-check path) as one JSON line on stderr and kills the process.
 */
import { Worker } from "node:worker_threads";

/** Shared slots: the heartbeat, the property running, its seed, and the inputs it has run in this slice. */
const HEARTBEAT = 0;
const PROPERTY = 1;
const SEED = 2;
const RUN = 3;

const WATCHDOG_SOURCE = `
const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const slots = new Int32Array(workerData.shared);
let last = -1;
let lastChangeMs = Date.now();
setInterval(() => {
  const beat = Atomics.load(slots, ${HEARTBEAT});
  if (beat !== last) {
    last = beat;
    lastChangeMs = Date.now();
    return;
  }
  if (Date.now() - lastChangeMs < workerData.hangMs) return;
  const hang = {
    property: workerData.properties[Atomics.load(slots, ${PROPERTY})],
    seed: Atomics.load(slots, ${SEED}),
    path: String(Math.max(0, Atomics.load(slots, ${RUN}) - 1)), // the input running: the last beat was before it
    stuckMs: Date.now() - lastChangeMs,
  };
  writeSync(2, JSON.stringify({ hang }) + "\\n");
  process.kill(process.pid, "SIGKILL");
}, Math.min(1000, workerData.hangMs));
`;

export class HangWatchdog {
  private readonly slots = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
  private readonly worker: Worker;

  /** `properties` names each property by its number in startSlice(). */
  constructor(properties: readonly string[], hangMs: number) {
    this.worker = new Worker(WATCHDOG_SOURCE, { eval: true, workerData: { shared: this.slots.buffer, properties, hangMs } });
    this.worker.unref();
  }

  startSlice(property: number, seed: number): void {
    Atomics.store(this.slots, PROPERTY, property);
    Atomics.store(this.slots, SEED, seed);
    Atomics.store(this.slots, RUN, 0);
    Atomics.add(this.slots, HEARTBEAT, 1);
  }

  /** Before each input. */
  beat(): void {
    Atomics.add(this.slots, HEARTBEAT, 1);
    Atomics.add(this.slots, RUN, 1);
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
