/** Parsers for the counter's command-line flags: each rejects bad input with a message that shows the expected form. */
import { InvalidArgumentError } from "commander";
import { RaftError, parsePeerId } from "../../index.js";

/** A peer id such as 127.0.0.1:8081. */
export function peerIdFlag(text: string): string {
  try {
    parsePeerId(text);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof RaftError ? error.message.replace(/^EINVAL: /, "") : String(error));
  }
  return text;
}

/** A comma-separated list of distinct peer ids. */
export function peerListFlag(text: string): string[] {
  const peers = text.split(",").map((part) => part.trim()).filter((part) => part.length > 0);
  if (peers.length === 0) throw new InvalidArgumentError("expected a comma-separated list such as 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083");
  peers.forEach(peerIdFlag);
  const repeated = peers.find((peer, i) => peers.indexOf(peer) !== i);
  if (repeated !== undefined) throw new InvalidArgumentError(`${repeated} is listed twice`);
  return peers;
}

export function integerFlag(min: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
      throw new InvalidArgumentError(`expected an integer of at least ${min}, got "${text}"`);
    }
    return value;
  };
}
