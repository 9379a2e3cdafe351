// jws.ts: RFC 7515 §5.2 with node:crypto. Real keys; jose signs the well-formed tokens, node:crypto
// the forgeries jose would not produce (none, HMAC with a public key, DER ECDSA, crit, b64:false).
import {
  constants,
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
} from "node:crypto";
import { CompactSign } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { type JwsErrorCode, type JwsHeader, SUPPORTED_ALGORITHMS, verifyCompact } from "../../src/sso/jws.js";

interface Pair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

let rsa: Pair;
let rsa1024: Pair;
let p256: Pair;
let p384: Pair;
let p521: Pair;
let ed25519: Pair;
let attacker: Pair;

beforeAll(() => {
  rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 });
  attacker = generateKeyPairSync("rsa", { modulusLength: 2048 });
  p256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
  p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
  p521 = generateKeyPairSync("ec", { namedCurve: "P-521" });
  ed25519 = generateKeyPairSync("ed25519");
});

const CLAIMS = { sub: "user-1", iss: "https://idp.example" };
const b64 = (value: string | Buffer) => Buffer.from(value).toString("base64url");
const b64json = (value: unknown) => b64(JSON.stringify(value));

/** A token signed by jose (the well-formed case). */
function joseSign(
  alg: string,
  key: KeyObject,
  header: Record<string, unknown> = {},
  payload: unknown = CLAIMS,
) {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg, kid: "k1", ...header })
    .sign(key);
}

/** A token signed by hand: `header.payload` signed by `signer` (for what jose refuses to produce). */
function handSign(header: unknown, payload: string, signer: (input: Buffer) => Buffer): string {
  const input = `${b64json(header)}.${payload}`;
  return `${input}.${b64(signer(Buffer.from(input)))}`;
}

/** Verifies with every supported alg pinned (unless told) and a resolver that returns `key`. */
function verifyWith(token: string, key: KeyObject, algorithms: readonly string[] = SUPPORTED_ALGORITHMS) {
  const seen: JwsHeader[] = [];
  const result = verifyCompact(token, algorithms, (header) => {
    seen.push(header);
    return key;
  });
  return { result, seen };
}

async function refusedWith(promise: Promise<unknown>, code: JwsErrorCode): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: "JwsError", code });
}

describe("verifyCompact accepts", () => {
  it.each([
    ["RS256", () => rsa],
    ["RS384", () => rsa],
    ["RS512", () => rsa],
    ["PS256", () => rsa],
    ["PS384", () => rsa],
    ["PS512", () => rsa],
    ["ES256", () => p256],
    ["ES384", () => p384],
    ["ES512", () => p521],
    ["EdDSA", () => ed25519],
  ] as const)("%s signed by its key", async (alg, pair) => {
    const token = await joseSign(alg, pair().privateKey);
    const { result, seen } = verifyWith(token, pair().publicKey);
    await expect(result).resolves.toEqual({ header: { alg, kid: "k1" }, payload: CLAIMS });
    expect(seen).toEqual([{ alg, kid: "k1" }]); // the resolver got the header to pick by kid
  });

  it("PS256 only with the salt as long as the digest (RFC 7518 §3.5)", async () => {
    const withSalt = (saltLength: number) =>
      handSign({ alg: "PS256" }, b64json(CLAIMS), (input) =>
        nodeSign("sha256", input, {
          key: rsa.privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength,
        }),
      );
    await expect(verifyWith(withSalt(32), rsa.publicKey).result).resolves.toBeDefined();
    await refusedWith(verifyWith(withSalt(0), rsa.publicKey).result, "signature");
  });
});

describe("verifyCompact refuses", () => {
  it("alg none, even when a caller lists it", async () => {
    const token = `${b64json({ alg: "none" })}.${b64json(CLAIMS)}.`;
    const { result, seen } = verifyWith(token, rsa.publicKey, ["none", ...SUPPORTED_ALGORITHMS]);
    await refusedWith(result, "alg_not_allowed");
    expect(seen).toEqual([]); // refused before any key is looked up
  });

  it("HS256 keyed with the RSA public key's bytes, even when a caller lists it", async () => {
    const pem = rsa.publicKey.export({ type: "spki", format: "pem" });
    const token = handSign({ alg: "HS256", kid: "k1" }, b64json(CLAIMS), (input) =>
      createHmac("sha256", pem).update(input).digest(),
    );
    const { result, seen } = verifyWith(token, rsa.publicKey, ["HS256", ...SUPPORTED_ALGORITHMS]);
    await refusedWith(result, "alg_not_allowed");
    expect(seen).toEqual([]);
  });

  it("an alg the caller did not pin", async () => {
    const token = await joseSign("ES256", p256.privateKey);
    await refusedWith(verifyWith(token, p256.publicKey, ["RS256"]).result, "alg_not_allowed");
  });

  it("a header without alg", async () => {
    const token = handSign({ kid: "k1" }, b64json(CLAIMS), (input) =>
      nodeSign("sha256", input, rsa.privateKey),
    );
    await refusedWith(verifyWith(token, rsa.publicKey).result, "alg_missing");
  });

  it("an RS256 header on an EC key, and ES256 on an RSA key", async () => {
    const rs = await joseSign("RS256", rsa.privateKey);
    await refusedWith(verifyWith(rs, p256.publicKey).result, "key_mismatch");
    const es = await joseSign("ES256", p256.privateKey);
    await refusedWith(verifyWith(es, rsa.publicKey).result, "key_mismatch");
    const ed = await joseSign("EdDSA", ed25519.privateKey);
    await refusedWith(verifyWith(ed, p256.publicKey).result, "key_mismatch");
  });

  it("an ES256 header over a P-384 signature, with the P-384 key or with a P-256 key", async () => {
    const token = handSign({ alg: "ES256" }, b64json(CLAIMS), (input) =>
      nodeSign("sha256", input, { key: p384.privateKey, dsaEncoding: "ieee-p1363" }),
    );
    await refusedWith(verifyWith(token, p384.publicKey).result, "key_mismatch");
    await refusedWith(verifyWith(token, p256.publicKey).result, "signature");
  });

  it("a flipped signature bit", async () => {
    for (const [alg, pair] of [
      ["RS256", rsa],
      ["ES256", p256],
      ["EdDSA", ed25519],
    ] as const) {
      const [h, p, s] = (await joseSign(alg, pair.privateKey)).split(".") as [string, string, string];
      const signature = Buffer.from(s, "base64url");
      signature[signature.length >> 1]! ^= 0x01;
      await refusedWith(verifyWith(`${h}.${p}.${b64(signature)}`, pair.publicKey).result, "signature");
    }
  });

  it("a flipped payload byte under a genuine signature", async () => {
    const [h, , s] = (await joseSign("RS256", rsa.privateKey)).split(".") as [string, string, string];
    const forged = `${h}.${b64json({ ...CLAIMS, sub: "admin" })}.${s}`;
    await refusedWith(verifyWith(forged, rsa.publicKey).result, "signature");
  });

  it("a DER-encoded ECDSA signature (JWS wants R‖S, RFC 7518 §3.4)", async () => {
    const token = handSign({ alg: "ES256" }, b64json(CLAIMS), (input) =>
      nodeSign("sha256", input, { key: p256.privateKey, dsaEncoding: "der" }),
    );
    await refusedWith(verifyWith(token, p256.publicKey).result, "signature");
  });

  it("crit, whatever it names (RFC 7515 §4.1.11)", async () => {
    const token = await joseSign("RS256", rsa.privateKey, { crit: ["exp"], exp: 1 }).catch(() =>
      handSign({ alg: "RS256", crit: ["exp"], exp: 1 }, b64json(CLAIMS), (input) =>
        nodeSign("sha256", input, rsa.privateKey),
      ),
    );
    await refusedWith(verifyWith(token, rsa.publicKey).result, "crit");
  });

  it("b64: false (RFC 7797), with and without crit", async () => {
    const payload = JSON.stringify(CLAIMS);
    for (const header of [
      { alg: "RS256", b64: false, crit: ["b64"] },
      { alg: "RS256", b64: false },
    ]) {
      const input = `${b64json(header)}.${payload}`;
      const token = `${b64json(header)}..${b64(nodeSign("sha256", Buffer.from(input), rsa.privateKey))}`;
      const { result } = verifyWith(token, rsa.publicKey);
      await expect(result).rejects.toMatchObject({ name: "JwsError" });
      await expect(result).rejects.toSatisfy((e: { code: string }) => e.code === "crit" || e.code === "b64");
    }
    const noCrit = { alg: "RS256", b64: false };
    const token = handSign(noCrit, b64(payload), (input) => nodeSign("sha256", input, rsa.privateKey));
    await refusedWith(verifyWith(token, rsa.publicKey).result, "b64");
  });

  it("a key in the header (jwk, x5c, jku, x5u): a token signed by the embedded key fails", async () => {
    const embeddedJwk = attacker.publicKey.export({ format: "jwk" });
    const cert = b64(attacker.publicKey.export({ type: "spki", format: "der" }));
    for (const member of [
      { jwk: embeddedJwk },
      { x5c: [cert] },
      { jku: "https://attacker.example/jwks" },
      { x5u: "https://attacker.example/cert.pem" },
    ]) {
      const token = await joseSign("RS256", attacker.privateKey, member);
      // Whichever key the resolver gives (the IdP's, or even the attacker's), the header is refused first.
      await refusedWith(verifyWith(token, rsa.publicKey).result, "embedded_key");
      await refusedWith(verifyWith(token, attacker.publicKey).result, "embedded_key");
    }
  });

  it("an RSA key shorter than 2048 bits", async () => {
    const token = await joseSign("RS256", rsa1024.privateKey).catch(() =>
      handSign({ alg: "RS256", kid: "k1" }, b64json(CLAIMS), (input) =>
        nodeSign("sha256", input, rsa1024.privateKey),
      ),
    );
    await refusedWith(verifyWith(token, rsa1024.publicKey).result, "weak_key");
  });

  it("a private key from the resolver", async () => {
    const token = await joseSign("RS256", rsa.privateKey);
    const pem = rsa.privateKey.export({ type: "pkcs8", format: "pem" });
    await refusedWith(verifyWith(token, createPrivateKey(pem)).result, "key_mismatch");
  });

  it.each([
    ["an array", "[1,2]"],
    ["a string", '"user-1"'],
    ["null", "null"],
    ["not JSON", "sub=user-1"],
    ["not UTF-8", Buffer.from([0x7b, 0xff, 0x7d])],
  ])("a payload that is %s", async (_name, payload) => {
    const token = handSign({ alg: "RS256" }, b64(payload), (input) =>
      nodeSign("sha256", input, rsa.privateKey),
    );
    await refusedWith(verifyWith(token, rsa.publicKey).result, "payload");
  });

  it("a header that is no JSON object", async () => {
    for (const header of ["[]", "RS256", "null"]) {
      const input = `${b64(header)}.${b64json(CLAIMS)}`;
      const token = `${input}.${b64(nodeSign("sha256", Buffer.from(input), rsa.privateKey))}`;
      await refusedWith(verifyWith(token, rsa.publicKey).result, "header");
    }
  });

  it("padding or characters outside base64url in any part", async () => {
    const good = await joseSign("RS256", rsa.privateKey);
    await expect(verifyWith(good, rsa.publicKey).result).resolves.toBeDefined();
    const [h, p, s] = good.split(".") as [string, string, string];
    const standard = (part: string) => Buffer.from(part, "base64url").toString("base64"); // +, / and =
    for (const token of [
      `${h}=.${p}.${s}`,
      `${h}.${p}=.${s}`,
      `${h}.${p}.${s}==`,
      `${h}.${p}.${standard(s)}`,
      `${h}.${p}.${s.slice(0, -1)}*`,
      `${h}.${p.slice(0, 4)} ${p.slice(4)}.${s}`,
      `${h}.${p}.${s}\n`,
    ]) {
      await refusedWith(verifyWith(token, rsa.publicKey).result, "format");
    }
  });

  it("a part that is not canonical base64url (non-zero trailing bits)", async () => {
    const good = await joseSign("RS256", rsa.privateKey);
    const [h, p, s] = good.split(".") as [string, string, string];
    // 2048-bit signature: 256 bytes → 342 characters, the last one carries 2 unused bits.
    const last = s.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const sibling = alphabet[alphabet.indexOf(last) ^ 1]!;
    const token = `${h}.${p}.${s.slice(0, -1)}${sibling}`;
    expect(Buffer.from(token.split(".")[2]!, "base64url")).toEqual(Buffer.from(s, "base64url"));
    await refusedWith(verifyWith(token, rsa.publicKey).result, "format");
  });

  it("four parts, two parts, one part", async () => {
    const good = await joseSign("RS256", rsa.privateKey);
    const [h, p, s] = good.split(".") as [string, string, string];
    for (const token of [`${good}.${s}`, `${h}.${p}`, h, `${h}.${p}.${s}.`]) {
      await refusedWith(verifyWith(token, rsa.publicKey).result, "format");
    }
  });
});
