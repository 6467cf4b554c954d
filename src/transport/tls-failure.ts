/**
 * What a failed outbound connection means when TLS is involved. Node reports
 * a certificate problem as an OpenSSL code, and, under TLS 1.3, a peer that
 * refuses our certificate does so after our side of the TLS handshake is
 * done, by closing the connection. Both are EAUTH, so that callers stop
 * retrying and the message says which file to check, instead of EAGAIN.
 */
import tls from "node:tls";
import type net from "node:net";
import { RaftError } from "../errors.js";

/** OpenSSL's verification codes for a certificate the CA did not sign, or that does not fit. */
const UNTRUSTED_CERTIFICATE = /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|INVALID_CA|INVALID_PURPOSE)/;
/** The peer's TLS alert about our certificate (TLS 1.2 sends it during the handshake). */
const CERTIFICATE_ALERT = /^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)/;

/** The socket error as EAUTH when it is about authentication; null for a plain network failure. */
export function tlsSocketError(error: Error, address: string): RaftError | null {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  if (UNTRUSTED_CERTIFICATE.test(code)) {
    return new RaftError("EAUTH", `${address}'s certificate is not trusted (${code}: ${error.message}); it must be signed by the cluster CA (tls.ca, --tls-ca) and name the host dialed`);
  }
  if (CERTIFICATE_ALERT.test(code)) {
    return new RaftError("EAUTH", `${address} refused our certificate (${code}); check that --tls-cert is signed by the CA the peer trusts (its --tls-ca)`);
  }
  if (code === "EPROTO" && /wrong version number/.test(error.message)) {
    return new RaftError("EAUTH", `${address} does not answer in TLS: it runs without TLS, so it cannot prove it belongs to the cluster; give every process the same TLS settings`);
  }
  return null;
}

/** The peer closed the connection before accepting our handshake, and without an Error frame saying why. */
export function closedDuringHandshake(socket: net.Socket, address: string): RaftError {
  if (socket instanceof tls.TLSSocket && socket.authorized) {
    return new RaftError("EAUTH", `${address} closed the connection right after the TLS handshake without a word: it refused our certificate; check that --tls-cert is signed by the CA the peer trusts (its --tls-ca)`);
  }
  return new RaftError("EAGAIN", `connection to ${address} was closed by the peer before the handshake completed (a peer that requires TLS closes a connection without it)`);
}
