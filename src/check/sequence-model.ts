/**
 * One key of getSequence: a counter from 0; getSequence(step) answers the
 * value before it and adds step, so step 0 reads.
 */
import type { Model } from "./model.js";

export interface SequenceInput {
  readonly step: number;
}

export interface SequenceOutput {
  readonly previous: number;
}

export const sequenceModel: Model<number, SequenceInput, SequenceOutput> = {
  name: "sequence",
  init: () => 0,
  step: (counter, input, output) => (output === null || output.previous === counter ? counter + input.step : null),
  stateKey: (counter) => counter,
  isReadOnly: (input) => input.step === 0,
  inputKey: (input) => input.step,
  describeInput: (input) => `getSequence ${input.step}`,
  describeOutput: (output) => `previous ${output.previous}`,
  describeState: (counter) => `counter ${counter}`,
};
