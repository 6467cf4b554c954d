/**
 * Keeps a response frame within what the transport carries (16 MiB frames by
 * default). Write results are small; a large multiGet, scan or watch answer
 * could pass the limit alone or with its frame-mates. One that passes it
 * alone gets EINVAL (ask for less); others that do not fit beside the rest
 * get EAGAIN, and the client asks again in another frame.
 */
import type { KvCallResult } from "./commands.js";
import { errorResult } from "./kv-results.js";

export const MAX_RESPONSE_BYTES = 12 * 1024 * 1024;
const RESULT_OVERHEAD_BYTES = 32;
const ITEM_OVERHEAD_BYTES = 16;

export function fitResponse(results: readonly KvCallResult[], maxBytes = MAX_RESPONSE_BYTES): KvCallResult[] {
  const sizes = results.map(resultBytes);
  let total = sizes.reduce((sum, bytes) => sum + bytes, 0);
  if (total <= maxBytes) return [...results];
  const fitted = [...results];
  // Largest first: the fewest calls are turned away.
  const order = sizes.map((bytes, i) => ({ bytes, i })).sort((a, b) => b.bytes - a.bytes);
  for (const { bytes, i } of order) {
    if (total <= maxBytes) break;
    const result = fitted[i]!;
    if (result.type !== "values" && result.type !== "entries" && result.type !== "events" && result.type !== "value") continue;
    fitted[i] =
      bytes > maxBytes
        ? errorResult("EINVAL", `the answer would carry about ${bytes} bytes, above the ${maxBytes} one response may carry; ask for fewer keys, a smaller scan limit or fewer watch events`)
        : errorResult("EAGAIN", "the answer did not fit in this response beside the others; ask again");
    total -= bytes - RESULT_OVERHEAD_BYTES;
  }
  return fitted;
}

function resultBytes(result: KvCallResult): number {
  switch (result.type) {
    case "value":
      return RESULT_OVERHEAD_BYTES + (result.value?.byteLength ?? 0);
    case "values":
      return RESULT_OVERHEAD_BYTES + result.values.reduce((sum, value) => sum + ITEM_OVERHEAD_BYTES + (value?.byteLength ?? 0), 0);
    case "entries":
      return RESULT_OVERHEAD_BYTES + result.entries.reduce((sum, entry) => sum + ITEM_OVERHEAD_BYTES + entry.key.byteLength + entry.value.byteLength, 0);
    case "events":
      return RESULT_OVERHEAD_BYTES + result.events.reduce((sum, event) => sum + ITEM_OVERHEAD_BYTES + event.key.byteLength + (event.value?.byteLength ?? 0), 0);
    case "error":
      return RESULT_OVERHEAD_BYTES + result.message.length;
    default:
      return RESULT_OVERHEAD_BYTES;
  }
}
