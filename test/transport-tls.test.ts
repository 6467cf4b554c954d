/** Mutual TLS, with certificates made for this run (see support/certificates.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import tls from "node:tls";
import { RaftError } from "../src/errors.js";
import type { Message } from "../src/core/messages.js";
import { encodeHello, PROTOCOL_MAGIC, PROTOCOL_VERSION } from "../src/transport/protocol.js";
import { TcpTransport, type TcpTransportOptions } from "../src/transport/tcp-transport.js";
import { clusterAndRogueIdentities } from "./support/certificates.js";
import { eventually, heartbeat, raftCode, TEST_TIMEOUT_MS, transportContract } from "./support/transport-contract.js";

const identities = clusterAndRogueIdentities();

function start(options: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  return TcpTransport.start({ clusterName: "test", listen: { host: "127.0.0.1", port: 0 }, reconnectMinDelayMs: 20, tls: identities.trusted, ...options });
}

transportContract("tls", { create: (overrides) => start(overrides) });

test("tls: peers without a certificate from the cluster's CA are refused; the others are served", { timeout: TEST_TIMEOUT_MS }, async () => {
  const serverErrors: RaftError[] = [];
  const server = await start({ onError: (error) => serverErrors.push(error) });
  const friend = await start();
  // Its own CA trusts the server's certificate, but the server does not trust its certificate.
  const impostor = await start({ tls: { ...identities.rogue, ca: Buffer.concat([identities.rogue.ca as Buffer, identities.trusted.ca as Buffer]) } });
  const plain = await start({ tls: undefined });
  try {
    const address = server.localAddress!;
    server.handle("ok", async (payload) => payload);
    const got: Message[] = [];
    server.registerGroup("g1", `${address}:0`, (m) => got.push(m));

    // TLS 1.3: the server refuses the client's certificate after the client's side of the TLS handshake, by closing.
    await assert.rejects(impostor.request(address, "ok", Buffer.alloc(0)), raftCode("EAUTH", new RegExp(`${address} closed the connection right after the TLS handshake.*refused our certificate`)));
    await eventually("the server to report the refused certificate", () => serverErrors.some((e) => e.code === "EAUTH" && /TLS handshake refused: the peer's certificate is not trusted/.test(e.message)));

    const errorsBefore = serverErrors.length;
    await assert.rejects(plain.request(address, "ok", Buffer.alloc(0), { timeoutMs: 2000 }), (error: unknown) => error instanceof RaftError && ["EAGAIN", "ETIMEDOUT"].includes(error.code));
    await eventually("the server to report the plain-text client", () => serverErrors.length > errorsBefore);

    // A client with no certificate at all.
    const naked = tls.connect({ host: "127.0.0.1", port: Number(address.split(":")[1]), ca: identities.trusted.ca, rejectUnauthorized: true });
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
  const server = await start({ tls: identities.rogue });
  const client = await start();
  try {
    server.handle("ok", async (payload) => payload);
    await assert.rejects(client.request(server.localAddress!, "ok", Buffer.alloc(0)), raftCode("EAUTH", /certificate is not trusted.*signed by the cluster CA/));
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
});

test("tls: unusable certificate options are refused at start", async () => {
  await assert.rejects(start({ tls: { ...identities.trusted, key: "not a key" } }), raftCode("EINVAL", /tls options are unusable/));
});
