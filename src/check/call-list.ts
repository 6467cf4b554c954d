/**
 * The doubly linked lists of the Wing–Gong–Lowe search. Every answered
 * operation has a call entry and a return entry, in time order; an operation
 * is a candidate to take effect next while its call comes before the first
 * return still in the list. Placing it lifts both of its entries out, and
 * backtracking puts them back in O(1), in reverse order (dancing links).
 *
 * Unanswered (info) operations never return, as if at time +infinity, so they
 * have only a call entry and live in a list of their own: the search tries
 * them only after every answered candidate has failed, and success does not
 * wait for them, because they may never take effect.
 */

export class ListEntry {
  prev: ListEntry | null = null;
  next: ListEntry | null = null;
  /** A call's return entry; null for a return entry and for an unanswered call. */
  returnEntry: ListEntry | null = null;

  constructor(
    readonly operation: number,
    readonly isCall: boolean,
    /** Position in time order of all calls and returns. */
    readonly rank: number,
  ) {}
}

export interface CallLists {
  /** Head sentinel of the calls and returns of answered operations. */
  readonly answered: ListEntry;
  /** Head sentinel of the calls of unanswered operations. */
  readonly unanswered: ListEntry;
  readonly callRank: Int32Array;
  /** Infinity for unanswered operations. */
  readonly returnRank: Float64Array;
}

export interface TimedOperation {
  readonly invokeMs: number;
  /** Null when unanswered. */
  readonly returnMs: number | null;
}

export function buildCallLists(operations: readonly TimedOperation[]): CallLists {
  const events: { operation: number; isCall: boolean; timeMs: number }[] = [];
  operations.forEach((operation, index) => {
    events.push({ operation: index, isCall: true, timeMs: operation.invokeMs });
    if (operation.returnMs !== null) events.push({ operation: index, isCall: false, timeMs: operation.returnMs });
  });
  // At equal times calls go first: touching operations count as concurrent,
  // which can only accept more histories, never reject a linearizable one.
  events.sort((a, b) => a.timeMs - b.timeMs || Number(b.isCall) - Number(a.isCall) || a.operation - b.operation);

  const answered = new ListEntry(-1, false, -1);
  const unanswered = new ListEntry(-1, false, -1);
  const callRank = new Int32Array(operations.length);
  const returnRank = new Float64Array(operations.length).fill(Infinity);
  const calls: ListEntry[] = [];
  let answeredTail = answered;
  let unansweredTail = unanswered;
  events.forEach((event, rank) => {
    const entry = new ListEntry(event.operation, event.isCall, rank);
    if (event.isCall) {
      callRank[event.operation] = rank;
      calls[event.operation] = entry;
    } else {
      returnRank[event.operation] = rank;
      calls[event.operation].returnEntry = entry;
    }
    if (operations[event.operation].returnMs === null) unansweredTail = append(unansweredTail, entry);
    else answeredTail = append(answeredTail, entry);
  });
  return { answered, unanswered, callRank, returnRank };
}

function append(tail: ListEntry, entry: ListEntry): ListEntry {
  tail.next = entry;
  entry.prev = tail;
  return entry;
}

/** Takes a call and its return out of their list. */
export function lift(call: ListEntry): void {
  unlink(call);
  if (call.returnEntry !== null) unlink(call.returnEntry);
}

/** Undoes the matching lift; lifts must be undone last-first. */
export function unlift(call: ListEntry): void {
  if (call.returnEntry !== null) relink(call.returnEntry);
  relink(call);
}

function unlink(entry: ListEntry): void {
  entry.prev!.next = entry.next;
  if (entry.next !== null) entry.next.prev = entry.prev;
}

function relink(entry: ListEntry): void {
  entry.prev!.next = entry;
  if (entry.next !== null) entry.next.prev = entry;
}
