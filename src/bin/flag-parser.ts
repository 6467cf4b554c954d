/** Commander argument parsing shared by the `tsraft` commands. */
import { InvalidArgumentError } from "commander";
import { RaftError } from "../errors.js";
import { plainMessage } from "../transport/protocol.js";

/** Turns a RaftError from a parser into commander's usage error (exit code 2). */
export function flagParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError(error instanceof RaftError ? plainMessage(error) : String(error));
    }
  };
}

/** A whole number flag in [min, max]; commander's usage error otherwise. */
export function wholeNumberFlag(flag: string, min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}, got "${text}".`);
    return n;
  };
}
