/**
 * One interval timer per tick length for all the nodes of a process, instead
 * of one per node. Besides saving the timers, it makes every group tick in the
 * same turn of the event loop, so the heartbeats of a thousand groups to one
 * peer process leave in one socket write (the transport flushes once per turn)
 * rather than in a thousand.
 */
const tickers = new Map<number, { readonly timer: NodeJS.Timeout; readonly listeners: Set<() => void> }>();

/** Calls `onTick` (a function of its own, not shared with another join) every `tickMs` until the returned function is called. */
export function joinTicker(tickMs: number, onTick: () => void): () => void {
  let ticker = tickers.get(tickMs);
  if (ticker === undefined) {
    const listeners = new Set<() => void>();
    const timer = setInterval(() => {
      for (const listener of listeners) listener();
    }, tickMs);
    timer.unref();
    ticker = { timer, listeners };
    tickers.set(tickMs, ticker);
  }
  ticker.listeners.add(onTick);
  const joined = ticker;
  return () => {
    joined.listeners.delete(onTick);
    if (joined.listeners.size === 0 && tickers.get(tickMs) === joined) {
      clearInterval(joined.timer);
      tickers.delete(tickMs);
    }
  };
}
