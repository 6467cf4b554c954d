/** Fuzzing a KV server end to end: damaged payloads on every request service and damaged streams on raw sockets; it answers each clearly and keeps serving. */
import { kvServerTarget } from "../src/fuzz/kv-server-target.js";
import { fuzzTests } from "./support/fuzz.js";

fuzzTests(kvServerTarget(), 60);
