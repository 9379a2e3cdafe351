import { generateKeyPairSync } from "node:crypto";
// verifyAccessAssertion on its own (no HTTP app): where the keys come from, the exact issuer, and
// the 60 s skew boundaries on a fixed clock.
import type { Selectable } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppContext } from "../../src/context.js";
import type { SsoConnectionsTable } from "../../src/db/schema.js";
import { CloudflareAssertionError, teamEndpoints, verifyAccessAssertion } from "../../src/sso/cloudflare.js";
import { createJwksCache } from "../../src/sso/jwks.js";
import { DEFAULT_MAPPINGS } from "../../src/sso/kinds/index.js";
import { type FakeCloudflareAccess, startCloudflareAccess } from "../support/cloudflare.js";

type Row = Selectable<SsoConnectionsTable>;

function row(teamDomain: string, audience = "aud-tag"): Row {
  return {
    type: "cloudflare-access",
    team_domain: teamDomain,
    audience,
    mapping: DEFAULT_MAPPINGS["cloudflare-access"],
  } as unknown as Row;
}

function context(allowPrivateIdpUrls: boolean, nowMs: () => number = Date.now): AppContext {
  return {
    config: { allowPrivateIdpUrls },
    now: () => new Date(nowMs()),
    jwks: createJwksCache({ fetch: (url, init) => fetch(url, init), now: nowMs }),
  } as unknown as AppContext;
}

async function refusal(promise: Promise<unknown>): Promise<CloudflareAssertionError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CloudflareAssertionError);
    return err as CloudflareAssertionError;
  }
  throw new Error("the assertion was accepted");
}

describe("Cloudflare Access team endpoints", () => {
  it("uses https for a Cloudflare team domain, whatever the operator allows", () => {
    for (const allow of [false, true]) {
      expect(teamEndpoints(context(allow), row("myteam.cloudflareaccess.com"))).toEqual({
        issuer: "https://myteam.cloudflareaccess.com",
        certsUrl: "https://myteam.cloudflareaccess.com/cdn-cgi/access/certs",
      });
    }
    expect(teamEndpoints(context(true), row("localhost")).issuer).toBe("https://localhost");
  });

  it("uses http only for a loopback host:port when private IdP URLs are allowed", () => {
    expect(teamEndpoints(context(true), row("127.0.0.1:8443")).certsUrl).toBe(
      "http://127.0.0.1:8443/cdn-cgi/access/certs",
    );
    expect(teamEndpoints(context(true), row("localhost:8443")).issuer).toBe("http://localhost:8443");
    for (const [allow, team] of [
      [false, "127.0.0.1:8443"],
      [true, "myteam.cloudflareaccess.com:8443"],
      [true, "10.0.0.1:8443"],
    ] as const) {
      expect(() => teamEndpoints(context(allow), row(team)), team).toThrow(/configuration|port/);
    }
  });

  it("refuses a stored team domain that is not a hostname", () => {
    for (const team of ["evil.example/cdn-cgi", "user@evil.example", "", "https://x.cloudflareaccess.com"]) {
      expect(() => teamEndpoints(context(true), row(team)), team).toThrow(CloudflareAssertionError);
    }
  });
});

describe("verifyAccessAssertion", () => {
  let cf: FakeCloudflareAccess;
  let nowMs = Date.now();
  const clock = () => nowMs;

  beforeAll(async () => {
    cf = await startCloudflareAccess({ audTag: "aud-tag" });
  });
  afterAll(async () => {
    await cf.close();
  });

  it("returns the verified claims", async () => {
    const claims = await verifyAccessAssertion(context(true, clock), row(cf.teamDomain), await cf.sign());
    expect(claims).toMatchObject({ aud: ["aud-tag"], type: "app", iss: cf.issuer });
  });

  it("refuses a loopback team domain when private IdP URLs are not allowed, before any download", async () => {
    const fetches = cf.certsFetches;
    const e = await refusal(
      verifyAccessAssertion(context(false, clock), row(cf.teamDomain), await cf.sign()),
    );
    expect(e.check).toBe("configuration");
    expect(cf.certsFetches).toBe(fetches);
  });

  it("refuses a disallowed alg before any download", async () => {
    const fetches = cf.certsFetches;
    const ctx = context(true, clock);
    for (const token of [cf.signNone(), cf.signHs256WithPublicKey(), await cf.sign({}, { alg: "RS384" })]) {
      expect((await refusal(verifyAccessAssertion(ctx, row(cf.teamDomain), token))).check).toBe("algorithm");
    }
    expect(cf.certsFetches).toBe(fetches);
  });

  it("allows exactly 60 s of skew on exp, nbf and iat", async () => {
    nowMs = Date.now();
    const now = Math.floor(nowMs / 1000);
    const ctx = context(true, clock);
    const r = row(cf.teamDomain);
    await verifyAccessAssertion(ctx, r, await cf.sign({ exp: now - 59 }));
    expect((await refusal(verifyAccessAssertion(ctx, r, await cf.sign({ exp: now - 60 })))).check).toBe(
      "expiry",
    );
    await verifyAccessAssertion(ctx, r, await cf.sign({ nbf: now + 60 }));
    expect((await refusal(verifyAccessAssertion(ctx, r, await cf.sign({ nbf: now + 61 })))).check).toBe(
      "not_before",
    );
    await verifyAccessAssertion(ctx, r, await cf.sign({ iat: now + 60 }));
    expect((await refusal(verifyAccessAssertion(ctx, r, await cf.sign({ iat: now + 61 })))).check).toBe(
      "issued_at",
    );
    expect((await refusal(verifyAccessAssertion(ctx, r, await cf.sign({ nbf: "soon" })))).check).toBe(
      "not_before",
    );
  });

  it("follows the injected clock, not the machine's", async () => {
    const ctx = context(true, clock);
    const token = await cf.sign();
    nowMs = Date.now() + 25 * 3600 * 1000; // the default assertion lives 24 h
    expect((await refusal(verifyAccessAssertion(ctx, row(cf.teamDomain), token))).check).toBe("expiry");
    nowMs = Date.now();
  });

  it("never takes a key from the assertion's header (jwk, x5c, jku): refused before any key is used", async () => {
    const ctx = context(true, clock);
    const foreign = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const embedded = foreign.publicKey.export({ format: "jwk" });
    for (const header of [
      { jwk: embedded },
      { x5c: [foreign.publicKey.export({ type: "spki", format: "der" }).toString("base64")] },
      { jku: "https://attacker.example/certs" },
    ]) {
      const token = await cf.sign({}, { key: foreign.privateKey, header });
      const refused = await refusal(verifyAccessAssertion(ctx, row(cf.teamDomain), token));
      expect(refused.check).toBe("format");
      expect(refused.detail).toMatch(/carries a key source/);
    }
  });

  it("names the claims only once the signature is verified", async () => {
    const ctx = context(true, clock);
    const good = await refusal(verifyAccessAssertion(ctx, row(cf.teamDomain, "other-tag"), await cf.sign()));
    expect(good.check).toBe("audience");
    expect(good.claimNames).toEqual(expect.arrayContaining(["aud", "email", "iss"]));
    const forged = await refusal(
      verifyAccessAssertion(ctx, row(cf.teamDomain), await cf.sign({}, { use: "next", kid: cf.currentKid })),
    );
    expect(forged.check).toBe("signature");
    expect(forged.claimNames).toEqual([]);
  });
});
