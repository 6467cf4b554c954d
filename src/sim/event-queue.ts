/**
 * Virtual time and a discrete-event queue. Nothing in the simulator reads the
 * real clock: an event runs at its virtual time, and events at the same time
 * run in the order they were scheduled, so one seed always replays one run.
 */

export type EventAction = () => void;

interface QueuedEvent {
  readonly atMs: number;
  /** Insertion order: breaks ties between events at the same virtual time. */
  readonly seq: number;
  readonly action: EventAction;
}

export class EventQueue {
  private heap: QueuedEvent[] = [];
  private nextSeq = 0;
  private currentMs = 0;
  /** Events run so far (the "steps" a run reports). */
  steps = 0;

  /** The virtual clock. It only moves forward, when an event runs. */
  get nowMs(): number {
    return this.currentMs;
  }

  get size(): number {
    return this.heap.length;
  }

  /** Runs `action` after `delayMs` of virtual time (0 = after the events already queued for now). */
  after(delayMs: number, action: EventAction): void {
    if (!(delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, got ${delayMs}`);
    this.push({ atMs: this.currentMs + delayMs, seq: this.nextSeq++, action });
  }

  /** Runs the next event; false when the queue is empty or the next event is after `untilMs`. */
  runNext(untilMs: number = Number.POSITIVE_INFINITY): boolean {
    const top = this.heap[0];
    if (top === undefined || top.atMs > untilMs) return false;
    this.pop();
    this.currentMs = top.atMs;
    this.steps++;
    top.action();
    return true;
  }

  /** Runs events up to and including `untilMs`, then sets the clock there. */
  runUntil(untilMs: number): void {
    while (this.runNext(untilMs));
    if (untilMs > this.currentMs) this.currentMs = untilMs;
  }

  private less(a: QueuedEvent, b: QueuedEvent): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  private push(event: QueuedEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}
