/**
 * The settings of `tsraft serve`, from flags and from a YAML file whose keys
 * are the flags' names (`server-address: 127.0.0.1:8181`). A flag given on
 * the command line wins over the file; an unknown key in the file is an
 * error naming it, so a typo never goes unnoticed.
 */
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { CREDENTIAL_SETTINGS, type CredentialSettings } from "./credentials.js";
import { parsePeerIds } from "../cli/peer-list.js";
import type { NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import { DEFAULT_CLUSTER_NAME, DEFAULT_KV_GROUP_ID } from "../kv/kv-service.js";
import { ELECTION_TICKS } from "../node/options.js";
import { parsePeerId } from "../transport/peer-address.js";
import { plainMessage, validateName } from "../transport/protocol.js";
import { describeValue } from "../kv/kv-validation.js";

export interface ServeSettings extends CredentialSettings {
  readonly data: string;
  readonly serverAddress: NodeId;
  /** host:port to bind when it differs from the server address (behind a proxy or NAT); default: the server address. */
  readonly listen?: string;
  /** Empty: none given. */
  readonly initialServerList: readonly NodeId[];
  readonly join: boolean;
  readonly group: string;
  readonly clusterName: string;
  readonly electionTimeoutMs: number;
  readonly snapshotIntervalSecs: number;
  readonly snapshotLogIndexMargin: number;
  readonly sync: boolean;
}

type Kind = "string" | "integer" | "boolean" | "list";

export interface Setting<T = ServeSettings> {
  /** The flag's name without dashes: also the key in the YAML file. */
  readonly key: string;
  readonly property: keyof T;
  readonly kind: Kind;
  /** Parses and checks the text of a flag (or a YAML value turned to text); throws EINVAL saying what is wrong. */
  readonly parse: (text: string) => unknown;
}

const text = (value: string): string => {
  if (value.trim().length === 0) throw new RaftError("EINVAL", "expected a non-empty value");
  return value;
};
const peerId = (value: string): NodeId => {
  parsePeerId(value);
  return value;
};
const hostPort = (value: string): string => {
  const { host, port } = parsePeerId(value);
  return `${host}:${port}`;
};
const name = (what: string) => (value: string): string => {
  validateName(value, what);
  return value;
};
const integer = (min: number) => (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new RaftError("EINVAL", `expected a whole number of at least ${min}, got "${value}"`);
  return n;
};
const serverList = (value: string): NodeId[] => parsePeerIds(value, { what: "the server list" });

export const SERVE_SETTINGS: readonly Setting[] = [
  { key: "data", property: "data", kind: "string", parse: text },
  { key: "server-address", property: "serverAddress", kind: "string", parse: peerId },
  { key: "listen", property: "listen", kind: "string", parse: hostPort },
  { key: "initial-server-list", property: "initialServerList", kind: "list", parse: serverList },
  { key: "join", property: "join", kind: "boolean", parse: () => true },
  { key: "group", property: "group", kind: "string", parse: name("a group id") },
  { key: "cluster-name", property: "clusterName", kind: "string", parse: name("a cluster name") },
  { key: "election-timeout-ms", property: "electionTimeoutMs", kind: "integer", parse: integer(ELECTION_TICKS * 5) },
  { key: "snapshot-interval-secs", property: "snapshotIntervalSecs", kind: "integer", parse: integer(0) },
  { key: "snapshot-log-index-margin", property: "snapshotLogIndexMargin", kind: "integer", parse: integer(0) },
  { key: "sync", property: "sync", kind: "boolean", parse: () => true },
  ...CREDENTIAL_SETTINGS,
];

const DEFAULTS: Omit<ServeSettings, "data" | "serverAddress"> = {
  initialServerList: [],
  join: false,
  group: DEFAULT_KV_GROUP_ID,
  clusterName: DEFAULT_CLUSTER_NAME,
  electionTimeoutMs: 1000,
  snapshotIntervalSecs: 3600,
  snapshotLogIndexMargin: 0,
  sync: true,
};

/** The settings a YAML config file holds, by property; EINVAL naming the file and the key for anything wrong. */
export function readServeConfig(path: string): Promise<Partial<Record<keyof ServeSettings, unknown>>> {
  return readSettingsFile(path, SERVE_SETTINGS);
}

/** A YAML file of `settings`, keyed by their flag names. */
export async function readSettingsFile<T>(path: string, known: readonly Setting<T>[]): Promise<Partial<Record<keyof T, unknown>>> {
  let source: string;
  try {
    source = await readFile(path, "utf8");
  } catch (error) {
    throw new RaftError("EINVAL", `cannot read the config file ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    // Warnings (an unknown tag, say) are not errors here; what matters is checked below, key by key.
    document = parseYaml(source, { logLevel: "error" });
  } catch (error) {
    throw new RaftError("EINVAL", `the config file ${path} is not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== "object" || Array.isArray(document)) throw new RaftError("EINVAL", `the config file ${path} must hold a mapping of settings (key: value), such as "${known[0]!.key}: ..."`);
  const entries = Object.entries(document as Record<string, unknown>);
  const unknown = entries.map(([key]) => key).filter((key) => !known.some((setting) => setting.key === key));
  if (unknown.length > 0) {
    throw new RaftError("EINVAL", `the config file ${path} has unknown keys: ${unknown.join(", ")} (the keys are: ${known.map((s) => s.key).join(", ")})`);
  }
  const settings: Partial<Record<keyof T, unknown>> = {};
  for (const [key, value] of entries) {
    const setting = known.find((s) => s.key === key)!;
    try {
      settings[setting.property] = fromYaml(setting, value);
    } catch (error) {
      throw new RaftError("EINVAL", `the config file ${path}, key ${key}: ${error instanceof RaftError ? plainMessage(error) : String(error)}`);
    }
  }
  return settings;
}

function fromYaml<T>(setting: Setting<T>, value: unknown): unknown {
  switch (setting.kind) {
    case "boolean":
      if (typeof value !== "boolean") throw new RaftError("EINVAL", `expected true or false, got ${describeValue(value)}`);
      return value;
    case "integer":
      if (typeof value !== "number") throw new RaftError("EINVAL", `expected a whole number, got ${describeValue(value)}`);
      return setting.parse(String(value));
    case "list":
      if (Array.isArray(value) && value.every((item) => typeof item === "string")) return setting.parse(value.join(","));
      if (typeof value === "string") return setting.parse(value);
      throw new RaftError("EINVAL", `expected a comma-separated string or a list of peer ids, got ${describeValue(value)}`);
    case "string":
      if (typeof value !== "string" && typeof value !== "number") throw new RaftError("EINVAL", `expected a string, got ${describeValue(value)}`);
      return setting.parse(String(value));
  }
}

/** Defaults, then the file, then the flags given on the command line; EINVAL for what is missing or contradicts. */
export function mergeServeSettings(fromFile: Partial<Record<keyof ServeSettings, unknown>>, fromFlags: Partial<Record<keyof ServeSettings, unknown>>): ServeSettings {
  const merged = { ...DEFAULTS, ...fromFile, ...fromFlags } as Partial<ServeSettings>;
  if (merged.data === undefined) throw new RaftError("EINVAL", "--data is required (or `data:` in the config file): the folder of this server's log and snapshots");
  if (merged.serverAddress === undefined) throw new RaftError("EINVAL", "--server-address is required (or `server-address:` in the config file): host:port where this server listens, its peer id");
  const settings = merged as ServeSettings;
  if (settings.join && settings.initialServerList.length > 0) {
    throw new RaftError("EINVAL", "--join and --initial-server-list exclude each other: a joining server is added by the running cluster's leader (tsraft admin add-peer), a founding one lists the founders");
  }
  if (settings.initialServerList.length > 0 && !settings.initialServerList.includes(settings.serverAddress)) {
    throw new RaftError("EINVAL", `--server-address ${settings.serverAddress} is not in --initial-server-list (${settings.initialServerList.join(",")}); list every founding server, this one included`);
  }
  return settings;
}
