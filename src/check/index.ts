/** Linearizability checking of recorded histories (Wing–Gong–Lowe search with Porcupine's memo). */
export { checkKvHistory, type KvInput, type KvOutput, type HistoryOperation, type CheckOptions, type CheckResult } from "./history.js";
export { checkLinearizable, searchLinearization, type LinearizabilityResult, type LinearizabilityVerdict, type SearchFailure, type SearchStats } from "./linearizability.js";
export type { Model, Operation } from "./model.js";
export { registerModel, describeValue, type RegisterInput, type RegisterOutput, type RegisterState, type RegisterValue } from "./register-model.js";
export { sequenceModel, type SequenceInput, type SequenceOutput } from "./sequence-model.js";
export { collapseUnobservedValues } from "./unobserved-values.js";
export { SearchBudget, DEFAULT_TIME_BUDGET_MS, DEFAULT_MAX_MEMO_ENTRIES, DEFAULT_MAX_MEMO_BYTES, type SearchLimits } from "./search-budget.js";
export { countStatuses, lostAcknowledgedWrites, type StatusCounts, type LostWrite } from "./history-stats.js";
export { describeOperation, describeFailure, formatMs } from "./excerpt.js";
