/**
 * What a `tsraft` process presents to the cluster, and asks of it: a cluster
 * secret (a challenge-response on every connection), TLS certificates signed
 * by the cluster CA, or both. Each comes from a flag, an environment variable
 * or a config file key; the flag wins over the variable, the variable over
 * the file:
 *
 *   flag                        environment                     config file key
 *   --cluster-secret-file PATH  TSRAFT_CLUSTER_SECRET_FILE=PATH cluster-secret-file: PATH
 *                               TSRAFT_CLUSTER_SECRET=SECRET    (the secret itself)
 *   --tls-cert PATH             TSRAFT_TLS_CERT=PATH            tls-cert: PATH
 *   --tls-key PATH              TSRAFT_TLS_KEY=PATH             tls-key: PATH
 *   --tls-ca PATH               TSRAFT_TLS_CA=PATH              tls-ca: PATH
 *
 * A secret is read from a file rather than the command line, where every
 * user of the machine can see it; a secret file or key file that others than
 * its owner may read is refused, with the chmod that fixes it.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { Option } from "commander";
import { RaftError } from "../errors.js";
import { clusterSecretBytes, MIN_CLUSTER_SECRET_BYTES } from "../transport/cluster-auth.js";
import { DATA_DIR_MODE, DATA_FILE_MODE } from "../storage/atomic-file.js";
import { plainMessage } from "../transport/protocol.js";
import type { TlsOptions } from "../transport/tcp-transport.js";
import type { Setting } from "./serve-config.js";

/** Where the cluster secret is: a file, or an environment variable holding it. */
export type SecretSource = { readonly file: string } | { readonly variable: string };

export interface CredentialSettings {
  readonly clusterSecret?: SecretSource;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
}

/** What a TcpTransport takes. */
export interface Credentials {
  readonly clusterSecret?: Buffer;
  readonly tls?: TlsOptions;
}

export const CLUSTER_SECRET_ENV = "TSRAFT_CLUSTER_SECRET";
export const CLUSTER_SECRET_FILE_ENV = "TSRAFT_CLUSTER_SECRET_FILE";
const TLS_ENV = { tlsCert: "TSRAFT_TLS_CERT", tlsKey: "TSRAFT_TLS_KEY", tlsCa: "TSRAFT_TLS_CA" } as const;
const TLS_PROPERTIES = ["tlsCert", "tlsKey", "tlsCa"] as const;
/** Group and others may neither read nor write a secret. */
const NOT_OWNER_BITS = 0o077;

const path = (value: string): string => {
  if (value.trim().length === 0) throw new RaftError("EINVAL", "expected a file path");
  return value;
};

/** The config file keys (also the flags' names). */
export const CREDENTIAL_SETTINGS: readonly Setting<CredentialSettings>[] = [
  { key: "cluster-secret-file", property: "clusterSecret", kind: "string", parse: (value) => ({ file: path(value) }) },
  { key: "tls-cert", property: "tlsCert", kind: "string", parse: path },
  { key: "tls-key", property: "tlsKey", kind: "string", parse: path },
  { key: "tls-ca", property: "tlsCa", kind: "string", parse: path },
];

export function credentialOptions(): Option[] {
  return [
    new Option("--cluster-secret-file <path>", `file holding the cluster secret, readable by its owner only (or ${CLUSTER_SECRET_FILE_ENV}, or ${CLUSTER_SECRET_ENV} holding the secret)`),
    new Option("--tls-cert <path>", `this process's certificate (PEM), signed by the cluster CA (or ${TLS_ENV.tlsCert})`),
    new Option("--tls-key <path>", `the certificate's private key (PEM), readable by its owner only (or ${TLS_ENV.tlsKey})`),
    new Option("--tls-ca <path>", `the cluster CA's certificate (PEM): peers must present one it signed (or ${TLS_ENV.tlsCa})`),
  ];
}

/** The credential settings given on the command line (commander's option values). */
export function credentialsFromFlags(flags: { clusterSecretFile?: unknown; tlsCert?: unknown; tlsKey?: unknown; tlsCa?: unknown }): CredentialSettings {
  const settings: { -readonly [K in keyof CredentialSettings]: CredentialSettings[K] } = {};
  for (const setting of CREDENTIAL_SETTINGS) {
    const value = flags[camelCase(setting.key) as keyof typeof flags];
    if (typeof value !== "string") continue;
    try {
      (settings as Record<string, unknown>)[setting.property] = setting.parse(value);
    } catch (error) {
      throw new RaftError("EINVAL", `--${setting.key}: ${error instanceof RaftError ? plainMessage(error) : String(error)}`);
    }
  }
  return settings;
}

/** The credential settings of the environment; an empty variable counts as unset. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv): CredentialSettings {
  const secret = env[CLUSTER_SECRET_ENV] || undefined;
  const secretFile = env[CLUSTER_SECRET_FILE_ENV] || undefined;
  if (secret !== undefined && secretFile !== undefined) {
    throw new RaftError("EINVAL", `${CLUSTER_SECRET_ENV} and ${CLUSTER_SECRET_FILE_ENV} are both set; unset one of them`);
  }
  const settings: { -readonly [K in keyof CredentialSettings]: CredentialSettings[K] } = {};
  if (secret !== undefined) settings.clusterSecret = { variable: CLUSTER_SECRET_ENV };
  if (secretFile !== undefined) settings.clusterSecret = { file: secretFile };
  for (const property of TLS_PROPERTIES) {
    const value = env[TLS_ENV[property]] || undefined;
    if (value !== undefined) settings[property] = value;
  }
  return settings;
}

/** Reads the files the settings name; EINVAL says which file is missing, unreadable, too open or not usable. */
export async function loadCredentials(settings: CredentialSettings, env: NodeJS.ProcessEnv = process.env): Promise<Credentials> {
  const credentials: { -readonly [K in keyof Credentials]: Credentials[K] } = {};
  const source = settings.clusterSecret;
  if (source !== undefined) {
    const where = "file" in source ? `the cluster secret file ${source.file}` : `the environment variable ${source.variable}`;
    const raw = "file" in source ? await readPrivateFile(source.file, "the cluster secret file") : Buffer.from(env[source.variable] ?? "", "utf8");
    try {
      credentials.clusterSecret = clusterSecretBytes(withoutLineEnd(raw));
    } catch (error) {
      throw new RaftError("EINVAL", `${where}: ${plainMessage(error as RaftError)}`);
    }
  }
  const given = TLS_PROPERTIES.filter((property) => settings[property] !== undefined);
  if (given.length > 0 && given.length < TLS_PROPERTIES.length) {
    const missing = TLS_PROPERTIES.filter((property) => settings[property] === undefined).map((property) => `--${kebabCase(property)} (or ${TLS_ENV[property]})`);
    throw new RaftError("EINVAL", `TLS needs a certificate, its key and the cluster CA together; missing: ${missing.join(", ")}`);
  }
  if (given.length === TLS_PROPERTIES.length) {
    credentials.tls = {
      cert: await readPublicFile(settings.tlsCert!, "the TLS certificate"),
      key: await readPrivateFile(settings.tlsKey!, "the TLS key"),
      ca: await readPublicFile(settings.tlsCa!, "the cluster CA certificate"),
    };
  }
  return credentials;
}

/**
 * Makes a new random secret in `file` (and its folder), readable by the owner
 * only; an existing file is kept, as long as it is still private. True when made.
 */
export async function ensureClusterSecretFile(file: string): Promise<boolean> {
  try {
    await mkdir(dirname(file), { recursive: true, mode: DATA_DIR_MODE });
    await writeFile(file, `${randomBytes(MIN_CLUSTER_SECRET_BYTES).toString("hex")}\n`, { mode: DATA_FILE_MODE, flag: "wx" });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new RaftError("EINVAL", `cannot write the cluster secret file ${file}: ${(error as Error).message}`);
  }
  await loadCredentials({ clusterSecret: { file } });
  return false;
}

/** A file only its owner may read: a secret that others can read is no longer one. */
async function readPrivateFile(file: string, what: string): Promise<Buffer> {
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch (error) {
    throw new RaftError("EINVAL", `cannot read ${what} ${file}: ${(error as Error).message}`);
  }
  // Windows keeps no such mode bits: its ACLs are the operator's to set.
  if (process.platform !== "win32" && (mode & NOT_OWNER_BITS) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, "0");
    throw new RaftError("EINVAL", `${what} ${file} is open to other users than its owner (mode ${octal}); run: chmod 600 ${file}`);
  }
  return readPublicFile(file, what);
}

async function readPublicFile(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new RaftError("EINVAL", `cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

/** `openssl rand -hex 32 > file` and `echo` end the secret with a newline that is not part of it. */
function withoutLineEnd(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return bytes.subarray(0, end);
}

function camelCase(key: string): string {
  return key.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function kebabCase(property: string): string {
  return property.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
