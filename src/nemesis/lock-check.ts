/**
 * Checks the fencing tokens of the lock acquisitions a run acknowledged. A
 * token grows with every acquisition of any lock, so two acquisitions never
 * share one (unless the same owner took the same lock again, extending its
 * lease), and an acquisition that completed before another began holds the
 * smaller token. A resource guarded by the lock relies on exactly that.
 */
export interface LockAcquisition {
  readonly key: string;
  readonly owner: string;
  readonly token: number;
  readonly invokeMs: number;
  readonly completeMs: number;
}

/** Each violation as a sentence naming the two acquisitions; empty when the tokens hold. */
export function checkLockTokens(acquisitions: readonly LockAcquisition[]): string[] {
  const violations: string[] = [];
  const byToken = new Map<number, LockAcquisition>();
  for (const acquisition of acquisitions) {
    const other = byToken.get(acquisition.token);
    if (other !== undefined && (other.owner !== acquisition.owner || other.key !== acquisition.key)) {
      violations.push(`token ${acquisition.token} was granted twice: ${describe(other)} and ${describe(acquisition)}`);
    }
    byToken.set(acquisition.token, acquisition);
  }
  // Sweep in invocation order, holding the acquisition with the largest token among those completed before.
  const byCompletion = [...acquisitions].sort((a, b) => a.completeMs - b.completeMs);
  let completed = 0;
  let largest: LockAcquisition | null = null;
  for (const acquisition of [...acquisitions].sort((a, b) => a.invokeMs - b.invokeMs)) {
    while (completed < byCompletion.length && byCompletion[completed]!.completeMs < acquisition.invokeMs) {
      const done = byCompletion[completed++]!;
      if (largest === null || done.token > largest.token) largest = done;
    }
    if (largest !== null && largest.token >= acquisition.token && largest.owner !== acquisition.owner) {
      violations.push(`token ${acquisition.token} (${describe(acquisition)}) is not above token ${largest.token}, granted before it began (${describe(largest)})`);
    }
  }
  return violations;
}

function describe(acquisition: LockAcquisition): string {
  return `${acquisition.owner} on ${acquisition.key} at ${acquisition.invokeMs.toFixed(1)}–${acquisition.completeMs.toFixed(1)} ms`;
}
