/**
 * Credentials on the command line, as operators give them: `tsraft serve`
 * with a cluster secret file (or TLS files from its YAML config), and
 * `tsraft kv` / `tsraft admin` taking theirs by flag, environment variable or
 * config file (a flag wins over the environment, which wins over the file).
 * Secret and key files open to other users are refused with the chmod to run.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { TestCertificates, type Identity } from "./support/certificates.js";
import { freePorts } from "./support/kv-cluster.js";

const BIN = fileURLToPath(new URL("../src/bin/tsraft.js", import.meta.url));
const CLUSTER = "auth-cli-test";
const SERVER_FLAGS = ["--election-timeout-ms", "300", "--cluster-name", CLUSTER, "--no-sync"];
/** The caller's environment without credentials of its own, so each run says exactly what it gives. */
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("TSRAFT_")));

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

function tsraft(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 30_000, env: { ...BASE_ENV, ...env } }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

interface Server {
  readonly child: ChildProcess;
  output: string;
}

function serve(args: readonly string[]): Server {
  const child = spawn(process.execPath, [BIN, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"], env: BASE_ENV });
  const server: Server = { child, output: "" };
  child.stdout!.on("data", (chunk: Buffer) => (server.output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (server.output += chunk.toString()));
  return server;
}

async function waitForOutput(server: Server, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pattern.test(server.output)) {
    if (Date.now() > deadline || server.child.exitCode !== null) throw new Error(`the server did not print ${pattern}:\n${server.output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const closed = once(server.child, "close");
  server.child.kill("SIGTERM");
  await closed;
}

function ok(run: Run): string {
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

let folder = "";
let certificates: TestCertificates;
let trusted: Identity;
let rogue: Identity;

before(async () => {
  folder = await mkdtemp(join(tmpdir(), "tsraft-auth-cli-"));
  certificates = TestCertificates.create();
  trusted = certificates.identity("cluster");
  rogue = certificates.identity("rogue");
});

after(async () => {
  certificates.remove();
  await rm(folder, { recursive: true, force: true });
});

test("a server with --cluster-secret-file: clients with the secret by flag, environment or config file are served; others are refused", { timeout: 60_000 }, async () => {
  const secret = randomBytes(32).toString("hex");
  const secretFile = join(folder, "cluster.secret");
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  const [port] = await freePorts(1);
  const address = `127.0.0.1:${port}`;
  const server = serve(["--data", join(folder, "secret-server"), "--server-address", address, "--initial-server-list", address, ...SERVER_FLAGS, "--cluster-secret-file", secretFile]);
  try {
    await waitForOutput(server, /became the leader/);
    assert.doesNotMatch(server.output, /no authentication/);
    const kv = (...args: string[]): string[] => ["kv", ...args, "--endpoints", address, "--cluster-name", CLUSTER];

    const refused = await tsraft(kv("put", "greeting", "forged"));
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /^tsraft kv put: EAUTH: .*cluster secret missing: .* requires one and the process dialing it has none; give that process the cluster's secret \(--cluster-secret-file/);
    await waitForOutput(server, /connection with .* refused: EAUTH: the peer closed the connection: cluster secret missing/);

    assert.equal(ok(await tsraft([...kv("put", "greeting", "hello"), "--cluster-secret-file", secretFile])), "OK");

    const config = join(folder, "client.yaml");
    await writeFile(config, `cluster-name: ${CLUSTER}\ncluster-secret-file: ${secretFile}\n`);
    const openFile = join(folder, "open.secret");
    await writeFile(openFile, `${secret}\n`, { mode: 0o644 });
    const shortFile = join(folder, "short.secret");
    await writeFile(shortFile, "tooshort\n", { mode: 0o600 });
    const wrong = { TSRAFT_CLUSTER_SECRET: randomBytes(32).toString("hex") };
    const [otherPort] = await freePorts(1);
    // Independent runs, at once: each is a process start.
    const [adminRefused, byEnv, byEnvFile, byConfig, adminByConfig, flagOverEnv, envOverConfig, openKv, openAdmin, short, both, looseServer] = await Promise.all([
      tsraft(["admin", "remove-peer", "--group", "kv", "--conf", address, "--peer", address, "--cluster-name", CLUSTER]),
      tsraft(kv("get", "greeting"), { TSRAFT_CLUSTER_SECRET: secret }),
      tsraft(["admin", "get-leader", "--group", "kv", "--conf", address, "--cluster-name", CLUSTER], { TSRAFT_CLUSTER_SECRET_FILE: secretFile }),
      tsraft(["kv", "get", "greeting", "--endpoints", address, "--config", config]),
      tsraft(["admin", "get-peers", "--group", "kv", "--conf", address, "--config", config]),
      tsraft([...kv("get", "greeting"), "--cluster-secret-file", secretFile], wrong),
      tsraft(["kv", "get", "greeting", "--endpoints", address, "--config", config], wrong),
      tsraft([...kv("get", "greeting"), "--cluster-secret-file", openFile]),
      tsraft(["admin", "get-leader", "--group", "kv", "--conf", address, "--cluster-secret-file", openFile]),
      tsraft([...kv("get", "greeting"), "--cluster-secret-file", shortFile]),
      tsraft(kv("get", "greeting"), { TSRAFT_CLUSTER_SECRET: secret, TSRAFT_CLUSTER_SECRET_FILE: secretFile }),
      tsraft(["serve", "--data", join(folder, "loose"), "--server-address", `127.0.0.1:${otherPort}`, "--initial-server-list", `127.0.0.1:${otherPort}`, "--cluster-secret-file", openFile]),
    ]);
    assert.equal(adminRefused.status, 1, adminRefused.stderr);
    assert.match(adminRefused.stderr, /^tsraft admin remove-peer: EAUTH: .*cluster secret missing/);
    assert.equal(ok(byEnv), "hello", "the secret itself in TSRAFT_CLUSTER_SECRET");
    assert.equal(ok(byEnvFile), `leader of group "kv": ${address}`, "its file in TSRAFT_CLUSTER_SECRET_FILE");
    assert.equal(ok(byConfig), "hello", "cluster name and secret file from the config file");
    assert.equal(ok(adminByConfig), `peers of group "kv" (1): ${address}`);
    assert.equal(ok(flagOverEnv), "hello", "the flag wins over the environment");
    assert.equal(envOverConfig.status, 1, "the environment wins over the config file");
    assert.match(envOverConfig.stderr, /EAUTH: .*cluster secret mismatch/);
    for (const run of [openKv, openAdmin]) {
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, new RegExp(`the cluster secret file ${openFile} is open to other users than its owner \\(mode 0644\\); run: chmod 600 ${openFile}`));
    }
    assert.equal(short.status, 2);
    assert.match(short.stderr, /the cluster secret file .*short\.secret: clusterSecret must be 32 to 4096 bytes, got 8; make one with: openssl rand -hex 32/);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /TSRAFT_CLUSTER_SECRET and TSRAFT_CLUSTER_SECRET_FILE are both set; unset one of them/);
    assert.equal(looseServer.status, 2, "a server refuses a secret others can read");
    assert.match(looseServer.stderr, /run: chmod 600/);
  } finally {
    await stop(server);
  }
});

test("a server with TLS files in its YAML config: clients with TLS files by flag or environment are served; another CA's certificate is refused", { timeout: 60_000 }, async () => {
  const [port] = await freePorts(1);
  const address = `127.0.0.1:${port}`;
  const config = join(folder, "tls-server.yaml");
  await writeFile(
    config,
    [`data: ${join(folder, "tls-server")}`, `server-address: ${address}`, `initial-server-list: ${address}`, `tls-cert: ${trusted.certFile}`, `tls-key: ${trusted.keyFile}`, `tls-ca: ${trusted.caFile}`].join("\n"),
  );
  const server = serve(["--config", config, ...SERVER_FLAGS]);
  try {
    await waitForOutput(server, /became the leader/);
    const kv = (...args: string[]): string[] => ["kv", ...args, "--endpoints", address, "--cluster-name", CLUSTER];
    const tlsEnv = { TSRAFT_TLS_CERT: trusted.certFile, TSRAFT_TLS_KEY: trusted.keyFile, TSRAFT_TLS_CA: trusted.caFile };
    assert.equal(ok(await tsraft(kv("put", "greeting", "hello"), tlsEnv)), "OK");
    const [byFlags, impostor, partial] = await Promise.all([
      tsraft([...kv("get", "greeting"), "--tls-cert", trusted.certFile, "--tls-key", trusted.keyFile, "--tls-ca", trusted.caFile]),
      tsraft(kv("get", "greeting"), { TSRAFT_TLS_CERT: rogue.certFile, TSRAFT_TLS_KEY: rogue.keyFile, TSRAFT_TLS_CA: trusted.caFile }),
      tsraft([...kv("get", "greeting"), "--tls-cert", trusted.certFile]),
    ]);
    assert.equal(ok(byFlags), "hello");
    assert.equal(impostor.status, 1, impostor.stderr);
    assert.match(impostor.stderr, /EAUTH: .* refused our certificate; check that --tls-cert is signed by the CA the peer trusts/);
    await waitForOutput(server, /refused: EAUTH: TLS handshake refused: the peer's certificate is not trusted/);
    assert.equal(partial.status, 2);
    assert.match(partial.stderr, /TLS needs a certificate, its key and the cluster CA together; missing: --tls-key \(or TSRAFT_TLS_KEY\), --tls-ca \(or TSRAFT_TLS_CA\)/);
  } finally {
    await stop(server);
  }
});
