/**
 * Self-tests of the fake Cloudflare Access (no CoPilot code): the certs endpoint verifies with jose.
 */
import { X509Certificate } from "node:crypto";
import { createRemoteJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeCloudflareAccess, startCloudflareAccess } from "./cloudflare.js";

describe("fake Cloudflare Access", () => {
  let cf: FakeCloudflareAccess;
  beforeAll(async () => {
    cf = await startCloudflareAccess();
  });
  afterAll(async () => {
    await cf.close();
  });

  const verify = (token: string, jwks = createRemoteJWKSet(new URL(cf.certsUrl), { cooldownDuration: 0 })) =>
    jwtVerify(token, jwks, {
      issuer: cf.issuer,
      audience: cf.audTag,
      algorithms: ["RS256"],
      clockTolerance: 60,
    });

  it("serves the certs document in Cloudflare's shape", async () => {
    expect(cf.teamDomain).toBe(`127.0.0.1:${cf.port}`);
    const res = await fetch(cf.certsUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    const doc = (await res.json()) as {
      keys: Record<string, string>[];
      public_cert: { kid: string; cert: string };
      public_certs: { kid: string; cert: string }[];
    };
    expect(Object.keys(doc)).toEqual(["keys", "public_cert", "public_certs"]);
    expect(doc.keys).toHaveLength(2);
    for (const key of doc.keys) {
      expect(Object.keys(key).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
      expect(key).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" });
      expect(key.kid).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(doc.keys.map((k) => k.kid)).toEqual([cf.currentKid, cf.previousKid]);
    expect(doc.public_cert.kid).toBe(cf.currentKid);
    expect(doc.public_certs.map((c) => c.kid)).toEqual([cf.currentKid, cf.previousKid]);
    // the certificates are real, self-signed, and carry the published keys
    for (const { kid, cert } of doc.public_certs) {
      const x509 = new X509Certificate(cert);
      expect(x509.verify(x509.publicKey)).toBe(true);
      const jwk = x509.publicKey.export({ format: "jwk" });
      expect(jwk.n).toBe(doc.keys.find((k) => k.kid === kid)?.n);
    }
    expect((await fetch(`${cf.origin}/nope`)).status).toBe(404);
  });

  it("signs Access JWTs that verify with createRemoteJWKSet", async () => {
    const token = await cf.sign({ email: "bob@acme.example" });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "RS256", kid: cf.currentKid });
    const { payload } = await verify(token);
    expect(payload).toMatchObject({
      aud: [cf.audTag],
      email: "bob@acme.example",
      iss: `http://127.0.0.1:${cf.port}`,
      type: "app",
      country: "US",
    });
    for (const claim of ["exp", "iat", "nbf"]) expect(payload[claim]).toEqual(expect.any(Number));
    expect(payload.sub).toEqual(expect.any(String));
    expect(payload.identity_nonce).toEqual(expect.any(String));

    // previous key still verifies; claims can be removed or overridden
    const previous = await cf.sign({ email: undefined }, { use: "previous" });
    expect(decodeProtectedHeader(previous).kid).toBe(cf.previousKid);
    expect((await verify(previous)).payload).not.toHaveProperty("email");
    const expired = await cf.sign({ exp: Math.floor(Date.now() / 1000) - 600 });
    await expect(verify(expired)).rejects.toMatchObject({ code: "ERR_JWT_EXPIRED" });
    await expect(verify(await cf.sign({ aud: ["other"] }))).rejects.toMatchObject({
      code: "ERR_JWT_CLAIM_VALIDATION_FAILED",
    });
  });

  it("forged assertions are refused", async () => {
    const none = cf.signNone();
    expect(none.endsWith(".")).toBe(true);
    expect(decodeProtectedHeader(none).alg).toBe("none");
    await expect(verify(none)).rejects.toThrow();

    const hs = cf.signHs256WithPublicKey();
    expect(decodeProtectedHeader(hs)).toMatchObject({ alg: "HS256", kid: cf.currentKid });
    await expect(verify(hs)).rejects.toThrow();
    const pem = cf.keys.current.publicKey.export({ type: "spki", format: "pem" }).toString();
    await expect(
      jwtVerify(hs, new TextEncoder().encode(pem), { issuer: cf.issuer, audience: cf.audTag }),
    ).resolves.toBeDefined();

    const { privateKey } = await generateKeyPair("RS256");
    const foreign = await cf.sign({}, { key: privateKey });
    expect(decodeProtectedHeader(foreign).kid).toBe(cf.currentKid);
    await expect(verify(foreign)).rejects.toMatchObject({ code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
    await expect(verify(await cf.sign({}, { kid: "unknown-kid" }))).rejects.toMatchObject({
      code: "ERR_JWKS_NO_MATCHING_KEY",
    });
  });

  it("signs service-token assertions", async () => {
    const { payload } = await verify(await cf.signServiceToken());
    expect(payload.common_name).toMatch(/^[0-9a-f]{32}\.access$/);
    expect(payload.email).toBe("");
    expect(payload.sub).toBe("");
    expect(payload.type).toBe("app");
  });

  it("rotates keys: a not-yet-published kid verifies after rotation and a refetch", async () => {
    const cached = createRemoteJWKSet(new URL(cf.certsUrl), { cooldownDuration: 60_000 });
    await verify(await cf.sign(), cached);
    const oldCurrent = cf.currentKid;
    const oldPrevious = cf.previousKid;
    const upcoming = cf.nextKid;
    const early = await cf.sign({}, { use: "next" });
    expect(decodeProtectedHeader(early).kid).toBe(upcoming);
    await expect(verify(early)).rejects.toMatchObject({ code: "ERR_JWKS_NO_MATCHING_KEY" });

    const fetches = cf.certsFetches;
    expect(await cf.rotate()).toBe(upcoming);
    expect(cf.currentKid).toBe(upcoming);
    expect(cf.previousKid).toBe(oldCurrent);
    expect(cf.certs().keys.map((k) => k.kid)).not.toContain(oldPrevious);

    // a key set still in its cooldown misses the new kid; a fresh one (refetch on unknown kid) accepts it
    await expect(verify(early, cached)).rejects.toMatchObject({ code: "ERR_JWKS_NO_MATCHING_KEY" });
    expect(cf.certsFetches).toBe(fetches);
    await verify(early);
    expect(cf.certsFetches).toBe(fetches + 1);
  });

  it("goes down and comes back", async () => {
    const get = (ms = 1000) => fetch(cf.certsUrl, { signal: AbortSignal.timeout(ms) });
    await cf.setDown(true);
    await expect(get()).rejects.toThrow();
    await expect(verify(await cf.sign())).rejects.toThrow();
    await cf.setDown(true, "hang");
    await expect(get(300)).rejects.toThrow(/timeout|aborted/i);
    await cf.setDown(true, "refuse");
    await expect(get()).rejects.toMatchObject({ cause: { code: "ECONNREFUSED" } });
    await cf.setDown(true, "error");
    expect((await get()).status).toBe(503);
    await cf.setDown(false);
    expect((await get()).status).toBe(200);
    await verify(await cf.sign());
  });

  it("accepts a custom issuer and audience tag", async () => {
    const other = await startCloudflareAccess({
      audTag: "aud-123",
      issuer: "https://myteam.cloudflareaccess.com",
    });
    try {
      const { payload } = await jwtVerify(await other.sign(), createRemoteJWKSet(new URL(other.certsUrl)), {
        issuer: "https://myteam.cloudflareaccess.com",
        audience: "aud-123",
      });
      expect(payload.aud).toEqual(["aud-123"]);
    } finally {
      await other.close();
    }
  });
});
