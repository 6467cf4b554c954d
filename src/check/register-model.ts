/**
 * One key of a KV store as a register: the value is a string, or null when
 * the key is absent (never written, or deleted).
 */
import type { Model } from "./model.js";

export type RegisterValue = string | null;

export type RegisterInput =
  | { readonly kind: "read" }
  | { readonly kind: "write"; readonly value: string }
  | { readonly kind: "cas"; readonly expect: RegisterValue; readonly value: string }
  | { readonly kind: "delete" }
  | { readonly kind: "putIfAbsent"; readonly value: string }
  | { readonly kind: "getAndPut"; readonly value: string };

export type RegisterOutput =
  | { readonly kind: "read"; readonly value: RegisterValue }
  | { readonly kind: "write" }
  | { readonly kind: "cas"; readonly succeeded: boolean }
  | { readonly kind: "delete" }
  | { readonly kind: "putIfAbsent"; readonly previous: RegisterValue }
  | { readonly kind: "getAndPut"; readonly previous: RegisterValue };

/** Wrapped because a step answers null for "impossible", and null is also the absent value. */
export interface RegisterState {
  readonly value: RegisterValue;
}

const ABSENT: RegisterState = { value: null };

export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  name: "register",
  init: () => ABSENT,
  step(state, input, output) {
    if (output !== null && output.kind !== input.kind) return null;
    switch (input.kind) {
      case "read":
        return output === null || (output.kind === "read" && output.value === state.value) ? state : null;
      case "write":
        return { value: input.value };
      case "delete":
        return ABSENT;
      case "cas": {
        const holds = state.value === input.expect;
        if (output !== null && output.kind === "cas" && output.succeeded !== holds) return null;
        return holds ? { value: input.value } : state;
      }
      case "putIfAbsent":
        if (output !== null && output.kind === "putIfAbsent" && output.previous !== state.value) return null;
        return state.value === null ? { value: input.value } : state;
      case "getAndPut":
        if (output !== null && output.kind === "getAndPut" && output.previous !== state.value) return null;
        return { value: input.value };
    }
  },
  // "=" keeps the string "absent" apart from the absent value.
  stateKey: (state) => (state.value === null ? "absent" : `=${state.value}`),
  isReadOnly: (input) => input.kind === "read",
  inputKey: (input) => JSON.stringify(input),
  describeInput(input) {
    switch (input.kind) {
      case "read":
      case "delete":
        return input.kind;
      case "cas":
        return `cas ${describeValue(input.expect)} -> ${describeValue(input.value)}`;
      case "write":
      case "putIfAbsent":
      case "getAndPut":
        return `${input.kind} ${describeValue(input.value)}`;
    }
  },
  describeOutput(output) {
    switch (output.kind) {
      case "read":
        return describeValue(output.value);
      case "write":
      case "delete":
        return "";
      case "cas":
        return output.succeeded ? "succeeded" : "failed";
      case "putIfAbsent":
      case "getAndPut":
        return `previous ${describeValue(output.previous)}`;
    }
  },
  describeState: (state) => describeValue(state.value),
};

export function describeValue(value: RegisterValue): string {
  return value === null ? "absent" : JSON.stringify(value);
}
