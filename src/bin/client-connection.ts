/**
 * How `tsraft admin` and `tsraft kv` reach a cluster: its name and the
 * credentials to present (credentials.ts), from flags, the environment and a
 * YAML file given with `--config`, whose keys are the flags' names:
 *
 *   cluster-name: prod
 *   cluster-secret-file: /etc/tsraft/cluster.secret
 *
 * A flag wins over its environment variable, which wins over the file.
 */
import { Option } from "commander";
import { DEFAULT_CLUSTER_NAME } from "../kv/kv-service.js";
import { validateName } from "../transport/protocol.js";
import { CREDENTIAL_SETTINGS, credentialOptions, credentialsFromEnv, credentialsFromFlags, loadCredentials, type CredentialSettings, type Credentials } from "./credentials.js";
import { flagParser } from "./flag-parser.js";
import { readSettingsFile, type Setting } from "./serve-config.js";

export interface ClientConnection extends Credentials {
  readonly clusterName: string;
}

/** What commander collects from connectionOptions(). */
export interface ConnectionFlags {
  readonly clusterName?: string;
  readonly config?: string;
  readonly clusterSecretFile?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
}

interface ClientSettings extends CredentialSettings {
  readonly clusterName?: string;
}

const clusterName = (text: string): string => {
  validateName(text, "a cluster name");
  return text;
};

const CLIENT_SETTINGS: readonly Setting<ClientSettings>[] = [{ key: "cluster-name", property: "clusterName", kind: "string", parse: clusterName }, ...CREDENTIAL_SETTINGS];

export function connectionOptions(): Option[] {
  return [
    new Option("--cluster-name <name>", `the servers' clusterName; the transport refuses another (default: "${DEFAULT_CLUSTER_NAME}")`).argParser(flagParser(clusterName)),
    ...credentialOptions(),
    new Option("--config <file>", `a YAML file with ${CLIENT_SETTINGS.map((setting) => setting.key).join(", ")}; flags and environment variables win over it`),
  ];
}

/** Reads the config file and the credential files; EINVAL says what to fix. */
export async function clientConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Promise<ClientConnection> {
  const fromFile = (flags.config === undefined ? {} : await readSettingsFile(flags.config, CLIENT_SETTINGS)) as ClientSettings;
  const settings: ClientSettings = { ...fromFile, ...credentialsFromEnv(env), ...credentialsFromFlags(flags) };
  return { clusterName: flags.clusterName ?? fromFile.clusterName ?? DEFAULT_CLUSTER_NAME, ...(await loadCredentials(settings, env)) };
}
