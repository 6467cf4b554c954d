/**
 * Mutual TLS: certificates are made for this run by the openssl command in a
 * temp folder. Without openssl these tests fail (they never skip): TLS that
 * is not tested is TLS that does not work.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { RaftError } from "../src/errors.js";
import type { Message } from "../src/core/messages.js";
import { encodeHello, PROTOCOL_MAGIC, PROTOCOL_VERSION } from "../src/transport/protocol.js";
import { TcpTransport, type TcpTransportOptions, type TlsOptions } from "../src/transport/tcp-transport.js";
import { eventually, heartbeat, raftCode, TEST_TIMEOUT_MS, transportContract } from "./support/transport-contract.js";

let folder = "";
let trusted: TlsOptions;
let rogue: TlsOptions;

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { cwd: folder, stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error("the TLS tests need the `openssl` command to make certificates; install it (apt-get install openssl)");
    }
    throw new Error(`openssl ${args.join(" ")} failed: ${String((error as { stderr?: Buffer }).stderr ?? error)}`);
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A CA, and one certificate it signs for 127.0.0.1, good for serving and for dialing. */
function makeIdentity(name: string): TlsOptions {
  openssl(["req", "-x509", ...EC_KEY, "-keyout", `${name}-ca.key`, "-out", `${name}-ca.crt`, "-days", "2", "-subj", `/CN=${name} test CA`]);
  openssl(["req", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name} node`]);
  writeFileSync(join(folder, `${name}.ext`), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${name}-ca.crt`, "-CAkey", `${name}-ca.key`, "-CAcreateserial", "-days", "2", "-out", `${name}.crt`, "-extfile", `${name}.ext`]);
  const read = (file: string) => readFileSync(join(folder, file));
  return { ca: read(`${name}-ca.crt`), cert: read(`${name}.crt`), key: read(`${name}.key`) };
}

before(() => {
  folder = mkdtempSync(join(tmpdir(), "tsraft-tls-"));
  trusted = makeIdentity("cluster");
  rogue = makeIdentity("rogue");
});

after(() => rmSync(folder, { recursive: true, force: true }));

function start(options: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  return TcpTransport.start({ clusterName: "test", listen: { host: "127.0.0.1", port: 0 }, reconnectMinDelayMs: 20, tls: trusted, ...options });
}

transportContract("tls", { create: (overrides) => start(overrides) });

test("tls: peers without a certificate from the cluster's CA are refused; the others are served", { timeout: TEST_TIMEOUT_MS }, async () => {
  const serverErrors: RaftError[] = [];
  const server = await start({ onError: (error) => serverErrors.push(error) });
  const friend = await start();
  // Its own CA trusts the server's certificate, but the server does not trust its certificate.
  const impostor = await start({ tls: { ...rogue, ca: Buffer.concat([rogue.ca as Buffer, trusted.ca as Buffer]) } });
  const plain = await start({ tls: undefined });
  try {
    const address = server.localAddress!;
    server.handle("ok", async (payload) => payload);
    const got: Message[] = [];
    server.registerGroup("g1", `${address}:0`, (m) => got.push(m));

    await assert.rejects(impostor.request(address, "ok", Buffer.alloc(0)), raftCode("EAGAIN", new RegExp(`connection to ${address}`)));
    await eventually("the server to report the refused certificate", () => serverErrors.some((e) => e.code === "EPERM" && /TLS handshake refused/.test(e.message)));

    const errorsBefore = serverErrors.length;
    await assert.rejects(plain.request(address, "ok", Buffer.alloc(0), { timeoutMs: 2000 }), (error: unknown) => error instanceof RaftError && ["EAGAIN", "ETIMEDOUT"].includes(error.code));
    await eventually("the server to report the plain-text client", () => serverErrors.length > errorsBefore);

    // A client with no certificate at all.
    const naked = tls.connect({ host: "127.0.0.1", port: Number(address.split(":")[1]), ca: trusted.ca, rejectUnauthorized: true });
    // Had the server let it in, this handshake would be answered at once.
    naked.write(encodeHello({ magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, clusterName: "test", senderAddress: "" }));
    const nakedOutcome = await new Promise<string>((resolve) => {
      naked.on("error", (error) => resolve(`error: ${error.message}`));
      naked.on("close", () => resolve("closed"));
      naked.on("data", () => resolve("data"));
    });
    naked.destroy();
    assert.notEqual(nakedOutcome, "data", "a client without a certificate got an answer");
    await eventually("the server to report the client without a certificate", () => serverErrors.filter((e) => /TLS handshake refused/.test(e.message)).length >= 2);

    friend.sendRaft("g1", heartbeat(`${friend.localAddress}:0`, `${address}:0`, 1));
    assert.equal((await friend.request(address, "ok", Buffer.from("trusted"))).toString(), "trusted");
    await eventually("the trusted peer's message", () => got.length === 1);
  } finally {
    await Promise.all([server.close(), friend.close(), impostor.close(), plain.close()]);
  }
});

test("tls: the client checks the server's certificate too", { timeout: TEST_TIMEOUT_MS }, async () => {
  const server = await start({ tls: rogue });
  const client = await start();
  try {
    server.handle("ok", async (payload) => payload);
    await assert.rejects(client.request(server.localAddress!, "ok", Buffer.alloc(0)), raftCode("EAGAIN", /certificate/));
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
});

test("tls: unusable certificate options are refused at start", async () => {
  await assert.rejects(start({ tls: { ...trusted, key: "not a key" } }), raftCode("EINVAL", /tls options are unusable/));
});
