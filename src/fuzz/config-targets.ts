/**
 * The command line's text parsers: server lists (`--conf`, `--initial-server-list`)
 * and the YAML config file of `tsraft serve`. Both are EINVAL when wrong.
 */
import fc from "fast-check";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify as stringifyYaml } from "yaml";
import { readServeConfig, SERVE_SETTINGS, type ServeSettings } from "../bin/serve-config.js";
import { formatPeerList, parsePeerList, type PeerList } from "../cli/peer-list.js";
import { ELECTION_TICKS } from "../node/options.js";
import { asyncCodecTarget, codecTarget, type FuzzTarget } from "./fuzz-target.js";
import { textMutator } from "./mutations.js";
import { label, peerId } from "./wire-arbitraries.js";

const PEER_LIST_TOKENS = [",", ":", "/learner", "/", " ", "\t", "\n", "-1", "0", "65535", "65536", "99999999999999999", "1e3", ".", "-", "::1", "[::1]", "localhost", "127.0.0.1"];

/** Voters and learners, no id twice, at least one id. */
const peerList: fc.Arbitrary<PeerList> = fc
  .tuple(fc.uniqueArray(peerId, { minLength: 1, maxLength: 6 }), fc.nat())
  .map(([ids, split]) => ({ peers: ids.slice(0, split % (ids.length + 1)), learners: ids.slice(split % (ids.length + 1)) }));

export function peerListTarget(): FuzzTarget {
  return codecTarget<PeerList, string>({
    name: "peer list",
    valid: peerList,
    encode: formatPeerList,
    decode: (text) => parsePeerList(text, { what: "--conf" }),
    codes: ["EINVAL"],
    mutator: textMutator(PEER_LIST_TOKENS),
    random: fc.oneof(fc.string({ unit: "binary", maxLength: 64 }), fc.array(fc.constantFrom(...PEER_LIST_TOKENS)).map((tokens) => tokens.join(""))),
    sizeOf: (text) => 3 * text.length,
  });
}

type ServeConfig = Partial<Record<keyof ServeSettings, unknown>>;

const YAML_TOKENS = [":", ": ", "- ", "\n", "\n  ", "&a ", "*a", "[", "]", "{", "}", ",", "? ", "'", '"', "#", "|", ">", "!!str ", "!!binary ", "!!map ", "<<: ", "---\n", "...\n", "%YAML 1.1\n", "true", "null", "~", ".inf", "1e309", "0x1F", "-1", "1.5", ...SERVE_SETTINGS.map((setting) => setting.key)];

/** Settings as a config file holds them, each within its checks. */
const serveConfig: fc.Arbitrary<ServeConfig> = fc.record(
  {
    data: fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).filter((text) => text.trim().length > 0),
    serverAddress: peerId,
    initialServerList: fc.uniqueArray(peerId, { minLength: 1, maxLength: 4 }),
    join: fc.boolean(),
    group: label,
    clusterName: label,
    electionTimeoutMs: fc.integer({ min: ELECTION_TICKS * 5, max: 1_000_000 }),
    snapshotIntervalSecs: fc.nat({ max: 1_000_000 }),
    snapshotLogIndexMargin: fc.nat(),
    sync: fc.boolean(),
  },
  { requiredKeys: [] },
);

const KEY_OF_PROPERTY = new Map<string, string>(SERVE_SETTINGS.map((setting) => [setting.property, setting.key]));

/** A setting's value as the file holds it: a cluster secret source is read as `{ file }` from its path. */
function asWritten(value: unknown): unknown {
  return value !== null && typeof value === "object" && "file" in value ? value.file : value;
}

export function serveConfigTarget(): FuzzTarget {
  let dir = "";
  let files = 0;
  return asyncCodecTarget<ServeConfig, string>({
    name: "serve config file",
    valid: serveConfig,
    encode: async (config) => stringifyYaml(Object.fromEntries(Object.entries(config).map(([property, value]) => [KEY_OF_PROPERTY.get(property)!, asWritten(value)])), { lineWidth: 0 }),
    async decode(yaml) {
      // A file of its own for each input: a run cut off at the end of its turn may still be reading its own.
      const path = join(dir, `config-${files++}.yaml`);
      await writeFile(path, yaml);
      try {
        return await readServeConfig(path);
      } finally {
        await rm(path);
      }
    },
    codes: ["EINVAL"],
    mutator: textMutator(YAML_TOKENS),
    random: fc.oneof(fc.string({ unit: "binary", maxLength: 64 }), fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 16 }).map((tokens) => tokens.join(""))),
    async open() {
      dir = await mkdtemp(join(tmpdir(), "tsraft-fuzz-config-"));
    },
    async close() {
      await rm(dir, { recursive: true, force: true });
    },
  });
}
