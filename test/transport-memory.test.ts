import { MemoryNetwork } from "../src/transport/memory-transport.js";
import { transportContract } from "./support/transport-contract.js";

const network = new MemoryNetwork();
let nextPort = 10_000;

transportContract("memory", {
  create: async (overrides) => network.createTransport({ clusterName: "test", address: `127.0.0.1:${nextPort++}`, ...overrides }),
});
