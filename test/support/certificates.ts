/**
 * Certificates for the TLS tests, made for each run by the openssl command in
 * a temp folder. Without openssl the TLS tests fail (they never skip): TLS
 * that is not tested is TLS that does not work.
 */
import { execFileSync } from "node:child_process";
import { after, before } from "node:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TlsOptions } from "../../src/transport/tcp-transport.js";

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A CA and one certificate it signs for 127.0.0.1 (serving and dialing), as files in `folder` and as TlsOptions. */
export interface Identity extends TlsOptions {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export class TestCertificates {
  private constructor(readonly folder: string) {}

  static create(): TestCertificates {
    return new TestCertificates(mkdtempSync(join(tmpdir(), "tsraft-tls-")));
  }

  /** A new CA named `name`, and a certificate it signed. */
  identity(name: string): Identity {
    this.openssl(["req", "-x509", ...EC_KEY, "-keyout", `${name}-ca.key`, "-out", `${name}-ca.crt`, "-days", "2", "-subj", `/CN=${name} test CA`]);
    this.openssl(["req", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name} node`]);
    writeFileSync(join(this.folder, `${name}.ext`), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    this.openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${name}-ca.crt`, "-CAkey", `${name}-ca.key`, "-CAcreateserial", "-days", "2", "-out", `${name}.crt`, "-extfile", `${name}.ext`]);
    const file = (suffix: string): string => join(this.folder, `${name}${suffix}`);
    return { caFile: file("-ca.crt"), certFile: file(".crt"), keyFile: file(".key"), ca: readFileSync(file("-ca.crt")), cert: readFileSync(file(".crt")), key: readFileSync(file(".key")) };
  }

  remove(): void {
    rmSync(this.folder, { recursive: true, force: true });
  }

  private openssl(args: string[]): void {
    try {
      execFileSync("openssl", args, { cwd: this.folder, stdio: ["ignore", "ignore", "pipe"] });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new Error("the TLS tests need the `openssl` command to make certificates; install it (apt-get install openssl)");
      }
      throw new Error(`openssl ${args.join(" ")} failed: ${String((error as { stderr?: Buffer }).stderr ?? error)}`);
    }
  }
}

/**
 * For a test file: a cluster identity and a rogue one (signed by another CA),
 * made before its tests and removed after. Read the fields inside tests.
 */
export function clusterAndRogueIdentities(): { trusted: Identity; rogue: Identity } {
  const identities = {} as { trusted: Identity; rogue: Identity };
  let certificates: TestCertificates | null = null;
  before(() => {
    certificates = TestCertificates.create();
    identities.trusted = certificates.identity("cluster");
    identities.rogue = certificates.identity("rogue");
  });
  after(() => certificates?.remove());
  return identities;
}
