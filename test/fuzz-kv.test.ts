/** Fuzzing the KV store's decoders: requests, responses, write batches and snapshot files. */
import { kvRequestTarget, kvResponseTarget, kvSnapshotTarget, writeBatchTarget } from "../src/fuzz/kv-targets.js";
import { fuzzTests } from "./support/fuzz.js";

fuzzTests(kvRequestTarget(), 1000);
fuzzTests(kvResponseTarget(), 1000);
fuzzTests(writeBatchTarget(), 1000);
fuzzTests(kvSnapshotTarget(), 80);
