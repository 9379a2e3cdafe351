/**
 * The SP key pair of a SAML connection (SPEC §12, issue 16): one RSA key per connection that
 * signs the AuthnRequests and decrypts EncryptedAssertions, published in the SP metadata as a
 * self-signed certificate (SAML uses certificates only as key containers: the IdP pins the one in
 * our metadata, no CA is involved). The private key is stored sealed like every other secret
 * (src/crypto/secret-box.ts); this module only makes and reads the PEMs.
 *
 * Rotation without downtime, as Okta/Keycloak do it: `beginRotation` adds a `next` key, which the
 * metadata publishes beside the current one (the IdP admin imports it; IdPs that read our metadata
 * pick it up) and which already decrypts; `completeRotation` makes it the current one (requests
 * are signed with it from then on) and drops the old.
 *
 * Certificate generation: `node-forge` — pure JavaScript with no dependencies and no install
 * script, the long-standing X.509 builder of the Node ecosystem. The RSA key itself is generated
 * by Node's native crypto (fast, constant-time); forge only assembles and signs the certificate.
 * Reading certificates (expiry, fingerprint, public key) uses Node's own `X509Certificate`.
 */
import { generateKeyPair, randomBytes, X509Certificate } from "node:crypto";
import { promisify } from "node:util";
import forge from "node-forge";
import { SamlError } from "./errors.js";

const generateKeyPairAsync = promisify(generateKeyPair);

export interface SpKey {
  /** PKCS#8 PEM. Secret: stored sealed, never logged. */
  privateKeyPem: string;
  certificatePem: string;
}

export interface SpKeyRing {
  current: SpKey;
  /** Published in the metadata and accepted for decryption, not yet used for signing. */
  next: SpKey | null;
}

export interface CertificateInfo {
  pem: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER, upper-case hex with colons (what IdP consoles show). */
  fingerprintSha256: string;
  subject: string;
}

export const SP_KEY_BITS = 2048;
export const SP_CERT_VALID_DAYS = 3650;
/** SPEC §12: a certificate that expires within 30 days is flagged. */
export const EXPIRY_WARNING_DAYS = 30;

/** A new SP key pair with its self-signed certificate (CN = the SP entity ID, cut to 64). */
export async function generateSpKey(options: {
  commonName: string;
  now?: Date;
  validDays?: number;
}): Promise<SpKey> {
  const { privateKey } = await generateKeyPairAsync("rsa", {
    modulusLength: SP_KEY_BITS,
    publicExponent: 0x10001,
  });
  const privateKeyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(
    privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
  );
  const now = options.now ?? new Date();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  // A positive 16-byte serial (the high bit cleared).
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  cert.serialNumber = serial.toString("hex");
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + (options.validDays ?? SP_CERT_VALID_DAYS) * 86_400_000);
  const name = [{ name: "commonName", value: options.commonName.slice(0, 64) }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, dataEncipherment: true },
  ]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return { privateKeyPem, certificatePem: forge.pki.certificateToPem(cert) };
}

/**
 * A certificate as an admin or a metadata document gives it — PEM, or the bare base64 of an
 * `X509Certificate` element — to one canonical PEM, refusing anything that is not an X.509
 * certificate with an RSA key of at least 2048 bits (XML signatures here are RSA).
 */
export function normalizeCertificate(input: string): string {
  const body = input
    .replace(/-----BEGIN CERTIFICATE-----/, "")
    .replace(/-----END CERTIFICATE-----/, "")
    .replace(/\s+/g, "");
  if (
    !body ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(body) ||
    /-----/.test(input.replace(/-----(BEGIN|END) CERTIFICATE-----/g, ""))
  ) {
    throw new SamlError("certificate", "not a PEM certificate");
  }
  const pem = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new SamlError("certificate", "not a valid X.509 certificate");
  }
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== "rsa") {
    throw new SamlError(
      "certificate",
      `the certificate's key is ${key.asymmetricKeyType ?? "unknown"}, not RSA`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048)
    throw new SamlError("certificate", `the certificate's RSA key has ${bits} bits, under 2048`);
  return pem;
}

/**
 * A pasted list of PEM certificates (several at once during an IdP rotation, SPEC §12) to its
 * canonical PEMs, each checked as `normalizeCertificate` does; anything between or around the
 * blocks other than whitespace is refused, as is an empty list.
 */
export function parseCertificateList(text: string): string[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const rest = text.replace(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g, "");
  if (blocks.length === 0) throw new SamlError("certificate", "no PEM certificate");
  if (rest.trim()) throw new SamlError("certificate", "the text holds something else than PEM certificates");
  return [...new Set(blocks.map(normalizeCertificate))];
}

export function certificateInfo(pemOrBase64: string): CertificateInfo {
  const pem = normalizeCertificate(pemOrBase64);
  const cert = new X509Certificate(pem);
  return {
    pem,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprintSha256: cert.fingerprint256,
    subject: cert.subject,
  };
}

/** SPEC §12's flag: expired, or expiring within `days` (30) of `now`. */
export function expiresSoon(
  info: Pick<CertificateInfo, "notAfter">,
  now: Date,
  days = EXPIRY_WARNING_DAYS,
): boolean {
  return info.notAfter.getTime() - now.getTime() <= days * 86_400_000;
}

/** The base64 body of a PEM certificate (what an `X509Certificate` element holds). */
export function certificateBody(pem: string): string {
  return normalizeCertificate(pem)
    .replace(/-----(BEGIN|END) CERTIFICATE-----/g, "")
    .replace(/\s+/g, "");
}

export async function newKeyRing(commonName: string, now?: Date): Promise<SpKeyRing> {
  return { current: await generateSpKey({ commonName, now }), next: null };
}

/** Step 1 of a rotation: a next key, published and decrypting, not yet signing. */
export async function beginRotation(ring: SpKeyRing, commonName: string, now?: Date): Promise<SpKeyRing> {
  if (ring.next) throw new SamlError("certificate", "a rotation is already under way");
  return { current: ring.current, next: await generateSpKey({ commonName, now }) };
}

/** Step 2: the next key becomes the current one; the old one is no longer published or used. */
export function completeRotation(ring: SpKeyRing): SpKeyRing {
  if (!ring.next) throw new SamlError("certificate", "no rotation is under way");
  return { current: ring.next, next: null };
}

/** The keys that may decrypt an EncryptedAssertion: the current one, then the next. */
export function decryptionKeys(ring: SpKeyRing): string[] {
  return ring.next ? [ring.current.privateKeyPem, ring.next.privateKeyPem] : [ring.current.privateKeyPem];
}
