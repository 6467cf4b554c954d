/**
 * Cheap summaries of a KV history that need no search: how many operations
 * were answered, and which acknowledged writes a final read shows were lost.
 */
import type { HistoryOperation } from "./history.js";

export interface StatusCounts {
  readonly total: number;
  readonly ok: number;
  readonly fail: number;
  readonly info: number;
}

export function countStatuses(ops: readonly HistoryOperation[]): StatusCounts {
  let ok = 0;
  let fail = 0;
  let info = 0;
  for (const op of ops) {
    if (op.status === "ok") ok++;
    else if (op.status === "fail") fail++;
    else info++;
  }
  return { total: ops.length, ok, fail, info };
}

export interface LostWrite {
  readonly key: string;
  /** The acknowledged write, delete or successful compare-and-set. */
  readonly operation: HistoryOperation;
  /** What the final read returned instead. */
  readonly finalValue: string | null;
}

/**
 * The acknowledged writes that a final read of their key contradicts.
 *
 * `finalReads` holds, per register key, what an ok read returned after the
 * run, invoked once every operation had completed or been given up on (keys
 * absent from it are not judged; sequence keys are ignored).
 *
 * The rule is sound (no false alarms). An acknowledged writer w (an ok write,
 * delete, or compare-and-set that succeeded) is lost when the final value is
 * neither w's value nor the value of any other operation that might have
 * written after w took effect: an ok writer that had not completed before w
 * was invoked, or an info write, delete or compare-and-set (which may take
 * effect at any time). Failed operations never took effect. Proof: the final
 * read follows w, so it returns the value of the last writer before it, which
 * is w itself or a writer ordered after w, and every writer that can be
 * ordered after w is one of those considered.
 *
 * Only the latest acknowledged writers of a key are reported (those that no
 * other acknowledged writer was invoked after): if an earlier one is lost, so
 * is every later one, so the report names the writes that the final read
 * should have reflected, not all of the key's history.
 */
export function lostAcknowledgedWrites(ops: readonly HistoryOperation[], finalReads: ReadonlyMap<string, string | null>): LostWrite[] {
  const lost: LostWrite[] = [];
  for (const [key, writers] of possibleWritersByKey(ops)) {
    if (!finalReads.has(key)) continue;
    const finalValue = finalReads.get(key) ?? null;
    const acknowledged = writers.filter((writer) => writer.op.status === "ok");
    const lastInvokeMs = acknowledged.reduce((latest, writer) => Math.max(latest, writer.op.invokeMs), -Infinity);
    for (const writer of acknowledged) {
      const isLatest = writer.op.completeMs! >= lastInvokeMs;
      if (!isLatest || writer.value === finalValue) continue;
      const explained = writers.some(
        (other) => other !== writer && other.value === finalValue && (other.op.status === "info" || other.op.completeMs! >= writer.op.invokeMs),
      );
      if (!explained) lost.push({ key, operation: writer.op, finalValue });
    }
  }
  return lost;
}

interface PossibleWriter {
  readonly op: HistoryOperation;
  /** The value it writes if it takes effect; null for a delete. */
  readonly value: string | null;
}

/** Per key, the operations that did or may have changed its value: ok or info, not failed. */
function possibleWritersByKey(ops: readonly HistoryOperation[]): Map<string, PossibleWriter[]> {
  const byKey = new Map<string, PossibleWriter[]>();
  for (const op of ops) {
    const value = writtenValue(op);
    if (value === undefined) continue;
    let writers = byKey.get(op.input.key);
    if (writers === undefined) byKey.set(op.input.key, (writers = []));
    writers.push({ op, value });
  }
  return byKey;
}

/** undefined when the operation cannot have written. */
function writtenValue(op: HistoryOperation): string | null | undefined {
  if (op.status === "fail") return undefined;
  switch (op.input.kind) {
    case "write":
      return op.input.value;
    case "delete":
      return null;
    case "cas": {
      const failed = op.status === "ok" && op.output?.kind === "cas" && !op.output.succeeded;
      return failed ? undefined : op.input.value;
    }
    case "read":
    case "sequence":
      return undefined;
  }
}
