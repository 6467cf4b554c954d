/**
 * `tsraft serve` and `tsraft kv` as users run them: child processes on
 * loopback. Three servers found a cluster (one from a YAML config file), the
 * kv operations answer in JSON with exit codes, a `--join` server waits until
 * `tsraft admin add-peer` adds it, and a restarted server warns that its
 * --initial-server-list disagrees with the membership in its log.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { freePorts } from "./support/kv-cluster.js";

const BIN = fileURLToPath(new URL("../src/bin/tsraft.js", import.meta.url));
const CLUSTER = "tsraft-kv-cli-test";
/** Short elections keep the test fast. */
const SERVER_FLAGS = ["--election-timeout-ms", "300", "--cluster-name", CLUSTER, "--no-sync"];

interface Server {
  readonly id: string;
  readonly process: ChildProcess;
  output: string;
}

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

function serve(id: string, args: readonly string[]): Server {
  const child = spawn(process.execPath, [BIN, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const server: Server = { id, process: child, output: "" };
  const collect = (chunk: Buffer): void => {
    server.output += chunk.toString();
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  return server;
}

async function stop(server: Server): Promise<number | null> {
  const child = server.process;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const closed = once(child, "close");
  child.kill("SIGTERM");
  const [code] = (await closed) as [number | null];
  return code;
}

function tsraft(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

async function waitForOutput(server: Server, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(server.output)) {
    if (Date.now() > deadline) throw new Error(`${server.id} did not print ${pattern} within ${timeoutMs} ms:\n${server.output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The one JSON line of a successful run. */
function json(run: Run): unknown {
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test("tsraft serve ×3 (one from YAML) and tsraft kv with --json; --join then admin add-peer; a restart warns of a disagreeing list", { timeout: 60_000 }, async () => {
  const base = await mkdtemp(join(tmpdir(), "tsraft-kv-cli-"));
  const ids = (await freePorts(4)).map((port) => `127.0.0.1:${port}`);
  const founders = ids.slice(0, 3);
  const list = founders.join(",");
  let servers: Server[] = [];
  try {
    const config = join(base, "server-3.yaml");
    await writeFile(
      config,
      [`data: ${join(base, "s3")}`, `server-address: ${founders[2]}`, "initial-server-list:", ...founders.map((id) => `  - ${id}`), `cluster-name: ${CLUSTER}`, "election-timeout-ms: 300", "sync: false", ""].join("\n"),
    );
    servers = [
      serve(founders[0]!, ["--data", join(base, "s1"), "--server-address", founders[0]!, "--initial-server-list", list, ...SERVER_FLAGS]),
      serve(founders[1]!, ["--data", join(base, "s2"), "--server-address", founders[1]!, "--initial-server-list", list, ...SERVER_FLAGS]),
      // Flags override the file: --election-timeout-ms stays valid, the rest comes from YAML.
      serve(founders[2]!, ["--config", config, "--election-timeout-ms", "400"]),
    ];
    for (const server of servers) {
      // --no-sync by flag or `sync: false` in YAML: the ready line says so, and stderr says what it risks.
      await waitForOutput(server, /ready: serving KV group "kv" .*, NOT flushed \(--no-sync\)$/m);
      await waitForOutput(server, /--no-sync: acknowledged writes stay in the page cache .* a crash of this machine .* may lose them; for tests and demos only$/m);
    }
    const kv = (...args: string[]): Promise<Run> => tsraft("kv", ...args, "--endpoints", list, "--cluster-name", CLUSTER, "--timeout-ms", "10000");

    assert.deepEqual(json(await kv("put", "greeting", "hello", "--json")), { key: "greeting", ok: true });
    const readable = await kv("get", "greeting");
    assert.equal(readable.status, 0, readable.stderr);
    assert.equal(readable.stdout, "hello\n");
    assert.deepEqual(json(await kv("get", "greeting", "--json")), { key: "greeting", value: "hello" });
    assert.deepEqual(json(await kv("get", "missing", "--json", "--consistency", "stale")), { key: "missing", value: null });
    assert.deepEqual(json(await kv("put", "user/1", "ann", "--json")), { key: "user/1", ok: true });
    assert.deepEqual(json(await kv("scan", "--prefix", "user/", "--json")), { entries: [{ key: "user/1", value: "ann" }] });
    assert.deepEqual(json(await kv("cas", "greeting", "bonjour", "--expect", "hello", "--json")), { key: "greeting", swapped: true });
    const lost = await kv("cas", "greeting", "hola", "--expect", "hello");
    assert.equal(lost.status, 0, lost.stderr);
    assert.equal(lost.stdout, "not swapped: the key does not hold the expected value\n");
    assert.deepEqual(json(await kv("seq", "ids", "--step", "10", "--json")), { key: "ids", start: 0, end: 10 });
    assert.deepEqual(json(await kv("seq", "ids", "--step", "5", "--json")), { key: "ids", start: 10, end: 15 });
    assert.deepEqual(json(await kv("del", "greeting", "--json")), { key: "greeting", deleted: true });
    assert.deepEqual(json(await kv("del", "greeting", "--json")), { key: "greeting", deleted: false });

    // Bad usage: exit code 2 and one clear line.
    const noEndpoints = await tsraft("kv", "get", "x");
    assert.equal(noEndpoints.status, 2);
    assert.match(noEndpoints.stderr, /required option '--endpoints <list>' not specified/);
    const badConsistency = await kv("get", "x", "--consistency", "eventual");
    assert.equal(badConsistency.status, 2);
    assert.match(badConsistency.stderr, /argument 'eventual' is invalid. Allowed choices are linearizable, lease, stale/);
    const badCas = await kv("cas", "k", "v");
    assert.equal(badCas.status, 2);
    assert.equal(badCas.stderr, "tsraft kv cas: EINVAL: give exactly one of --expect <value> and --absent\n");
    // Values past the 128 KiB a command-line argument may hold come from a file.
    const bigValueFile = join(base, "big-value");
    await writeFile(bigValueFile, "v".repeat(300_000));
    assert.deepEqual(json(await kv("put", "big", "--value-file", bigValueFile, "--json")), { key: "big", ok: true });
    assert.equal((json(await kv("get", "big", "--json")) as { value: string }).value.length, 300_000);
    const both = await kv("put", "big", "x", "--value-file", bigValueFile);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /give the value either as an argument or with --value-file/);
    const tooBigFile = join(base, "too-big-value");
    await writeFile(tooBigFile, Buffer.alloc(1024 * 1024 + 1, 120));
    const tooBig = await kv("put", "big", "--value-file", tooBigFile);
    assert.equal(tooBig.status, 2);
    assert.match(tooBig.stderr, /above MAX_VALUE_BYTES 1048576/);
    assert.deepEqual(json(await kv("del", "big", "--json")), { key: "big", deleted: true }); // out of the scans below
    const bigKey = await kv("put", "k".repeat(20_000), "v");
    assert.equal(bigKey.status, 2);
    assert.match(bigKey.stderr, /^tsraft kv put: EINVAL: put: key of 20000 bytes is above MAX_KEY_BYTES 16384\n$/);
    const unreachable = await tsraft("kv", "get", "x", "--endpoints", "127.0.0.1:1", "--timeout-ms", "1000");
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /^tsraft kv get: ETIMEDOUT: .*no peer of group "kv" can be reached/);

    // A joining server waits, is added, and catches up.
    const joiner = serve(ids[3]!, ["--data", join(base, "s4"), "--server-address", ids[3]!, "--join", ...SERVER_FLAGS]);
    servers.push(joiner);
    await waitForOutput(joiner, /not a voter yet: waiting to be added/);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.doesNotMatch(joiner.output, /became the leader/, "a joining server never founds a cluster of its own");
    const added = await tsraft("admin", "add-peer", "--group", "kv", "--conf", list, "--cluster-name", CLUSTER, "--peer", ids[3]!);
    assert.equal(added.status, 0, added.stderr);
    await waitForOutput(joiner, /following 127\.0\.0\.1:\d+ in term \d+/);
    const fromJoiner = await tsraft("kv", "scan", "--endpoints", ids[3]!, "--consistency", "stale", "--cluster-name", CLUSTER, "--json");
    assert.deepEqual(json(fromJoiner), { entries: [{ key: "user/1", value: "ann" }] });

    // Restarted with the old list: the log's membership (four voters) wins, with a warning.
    assert.equal(await stop(servers[0]!), 0, servers[0]!.output);
    assert.match(servers[0]!.output, /SIGTERM: shutting down[\s\S]*stopped/);
    servers[0] = serve(founders[0]!, ["--data", join(base, "s1"), "--server-address", founders[0]!, "--initial-server-list", list, ...SERVER_FLAGS]);
    await waitForOutput(servers[0], /ready: serving/);
    assert.match(servers[0].output, /initialServerList \(.*\) is ignored: the data folder already holds the membership \(.*127\.0\.0\.1.*127\.0\.0\.1.*127\.0\.0\.1.*127\.0\.0\.1.*\)/);
    assert.deepEqual(json(await kv("get", "user/1", "--json")), { key: "user/1", value: "ann" });

    for (const server of servers) assert.equal(await stop(server), 0, `${server.id} stops cleanly:\n${server.output}`);
  } catch (error) {
    for (const server of servers) console.error(`--- ${server.id}\n${server.output}`);
    throw error;
  } finally {
    await Promise.all(servers.map((server) => stop(server)));
    await rm(base, { recursive: true, force: true });
  }
});

test("tsraft serve refuses bad flags and config with exit code 2 and a clear line", { timeout: 30_000 }, async () => {
  const base = await mkdtemp(join(tmpdir(), "tsraft-kv-cli-"));
  try {
    const badTimeout = await tsraft("serve", "--data", join(base, "a"), "--server-address", "127.0.0.1:1", "--initial-server-list", "127.0.0.1:1", "--election-timeout-ms", "abc");
    assert.equal(badTimeout.status, 2);
    assert.equal(badTimeout.stderr, 'tsraft serve: --election-timeout-ms: expected a whole number of at least 50, got "abc"\n');
    const neither = await tsraft("serve", "--data", join(base, "empty"), "--server-address", "127.0.0.1:1");
    assert.equal(neither.status, 2);
    assert.match(neither.stderr, /holds no data yet: give --initial-server-list to found a cluster, or --join to wait to be added/);
    const both = await tsraft("serve", "--data", join(base, "b"), "--server-address", "127.0.0.1:1", "--initial-server-list", "127.0.0.1:1", "--join");
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--join and --initial-server-list exclude each other/);
    const missing = await tsraft("serve", "--server-address", "127.0.0.1:1", "--join");
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--data is required/);

    const config = join(base, "bad.yaml");
    await writeFile(config, "data: ./x\nserver-adress: 127.0.0.1:1\nelection-timeout: 5\n");
    const unknown = await tsraft("serve", "--config", config);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /the config file .*bad\.yaml has unknown keys: server-adress, election-timeout \(the keys are: data, server-address, /);
    await writeFile(config, "data: ./x\nserver-address: 127.0.0.1:1\njoin: yes please\n");
    const badValue = await tsraft("serve", "--config", config);
    assert.equal(badValue.status, 2);
    assert.match(badValue.stderr, /key join: expected true or false, got "yes please"/);
    await writeFile(config, "data: [unclosed\n");
    const notYaml = await tsraft("serve", "--config", config);
    assert.equal(notYaml.status, 2);
    assert.match(notYaml.stderr, /is not valid YAML/);
    const noFile = await tsraft("serve", "--config", join(base, "none.yaml"));
    assert.equal(noFile.status, 2);
    assert.match(noFile.stderr, /cannot read the config file .*none\.yaml/);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
