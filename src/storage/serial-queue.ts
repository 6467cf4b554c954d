/**
 * Runs async operations one at a time, in call order, so that callers may
 * pipeline (call again before the last call resolved) without interleaving
 * their file writes. A failed operation does not stop the ones behind it.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(operation, operation);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
