/**
 * Faults a `tsraft serve` process takes from its parent over the IPC channel,
 * only when started with TSRAFT_FAULT_INJECTION=1 (the nemesis runner does):
 * faults the operating system cannot inject from outside without root.
 */
import { injectSyncDelay } from "../storage/fs-sync.js";

export const FAULT_INJECTION_ENV = "TSRAFT_FAULT_INJECTION";

export interface ServerFault {
  /** Every fdatasync waits this long first (0: the disk is well again). */
  readonly syncDelayMs: number;
}

export function isServerFault(message: unknown): message is ServerFault {
  const delay = (message as { syncDelayMs?: unknown } | null)?.syncDelayMs;
  return typeof delay === "number" && Number.isSafeInteger(delay) && delay >= 0 && delay <= 60_000;
}

/** Takes faults from the parent when the environment asks for it; says whether it does. */
export function acceptServerFaults(warn: (line: string) => void): boolean {
  if (process.env[FAULT_INJECTION_ENV] !== "1" || process.send === undefined) return false;
  process.on("message", (message: unknown) => {
    if (!isServerFault(message)) {
      warn(`fault injection: ignored a message that is not a fault: ${JSON.stringify(message)}`);
      return;
    }
    injectSyncDelay(message.syncDelayMs);
    warn(`fault injection: every fdatasync now waits ${message.syncDelayMs} ms first`);
  });
  return true;
}
