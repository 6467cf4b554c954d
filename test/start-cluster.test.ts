/**
 * `npm start` (start-cluster.js, which the start script runs after building):
 * three servers start, a leader is reported with the endpoints and example
 * commands, status lines follow, and SIGINT stops everything cleanly. It runs
 * in a temp working directory (so ./data is not the repository's) and on free
 * ports (--ports) rather than 8181-8183, which a developer's cluster may hold.
 * The cluster secret it makes is private to its owner, as the data folder is.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { freePorts } from "./support/kv-cluster.js";

const START = fileURLToPath(new URL("../src/bin/start-cluster.js", import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL("../../package.json", import.meta.url));

/** The arguments of the running `tsraft serve` process for this address, from /proc. */
async function commandLineOf(serverAddress: string): Promise<string[]> {
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const args = await readFile(`/proc/${pid}/cmdline`, "utf8").then((text) => text.split("\0"), (): string[] => []);
    if (args.includes("serve") && args[args.indexOf("--server-address") + 1] === serverAddress) return args;
  }
  throw new Error(`no tsraft serve process for ${serverAddress}`);
}

test("npm start: three servers, a leader reported with a status line, a clean stop on SIGINT", { timeout: 60_000 }, async () => {
  const scripts = (JSON.parse(await readFile(PACKAGE_JSON, "utf8")) as { scripts: Record<string, string> }).scripts;
  assert.equal(scripts.start, "npm run build && node dist/src/bin/start-cluster.js");
  assert.equal(scripts.demo, "npm run build && node dist/src/bin/tsraft.js demo");

  const cwd = await mkdtemp(join(tmpdir(), "tsraft-start-"));
  const ports = await freePorts(3);
  const child = spawn(process.execPath, [START, "--ports", ports.join(",")], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const closed = once(child, "close");
  try {
    const deadline = Date.now() + 30_000;
    while (!/leader 127\.0\.0\.1:\d+ {2}term \d+ {2}commit \d+ {2}\d+ ops\/s {2}3\/3 servers up/.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no status line with a leader:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const endpoints = ports.map((port) => `127.0.0.1:${port}`).join(",");
    assert.match(output, /tsraft KV cluster of 3 servers is up; the leader is 127\.0\.0\.1:\d+ \(term \d+\)/);
    assert.ok(output.includes(`endpoints: ${endpoints}`), output);
    assert.match(output, /npx tsraft kv put greeting hello --endpoints \$E/);
    assert.match(output, /npx tsraft admin get-configuration --group kv --conf \$E/);
    assert.ok(output.includes(`export TSRAFT_CLUSTER_SECRET_FILE=${join(cwd, "data", "cluster.secret")}`), output);

    // Three servers share this machine's cores: V8's helper threads are sized for that (sharedCoresNodeArgs).
    const poolSize = Math.max(1, Math.floor(availableParallelism() / 3));
    for (const port of ports) assert.ok((await commandLineOf(`127.0.0.1:${port}`)).includes(`--v8-pool-size=${poolSize}`), `server ${port}`);

    child.kill("SIGINT");
    const [code] = (await closed) as [number | null];
    assert.equal(code, 0, output);
    assert.match(output, /Ctrl-C: stopping the servers/);
    assert.equal(output.match(/SIGTERM: shutting down/g)?.length, 3, output);
    assert.equal(output.match(/\] stopped\n/g)?.length, 3, output);
    assert.match(output, /stopped\.\n$/);
    assert.deepEqual((await readdir(join(cwd, "data"))).sort(), [...ports.map(String), "cluster.secret"].sort(), "data under ./data/<port> of the working directory");
    assert.equal((await stat(join(cwd, "data"))).mode & 0o777, 0o700, "the data folder is its owner's only");
    assert.equal((await stat(join(cwd, "data", "cluster.secret"))).mode & 0o777, 0o600, "the secret is its owner's only");
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await rm(cwd, { recursive: true, force: true });
  }
});
