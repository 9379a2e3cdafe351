// The provisioning API's rate limit covers invalid tokens too (issue 14 item 5): failed
// authentications count per client address, in one counter per address, so a flood of made-up
// bearer tokens is answered 429 after the limit and writes no throttle row per token.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/crypto/tokens.js";
import { LIMITS } from "../../src/http/throttle.js";
import { createTestApp, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";
import { agencyWithAdmin, errorOf, Script } from "./helpers.js";

const madeUp = () => `pit_${randomBytes(32).toString("base64url")}`;

describe.each(storages())("failed provisioning authentications per address (%s)", (storage) => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof agencyWithAdmin>>;

  beforeAll(async () => {
    t = await createTestApp(storage);
    a = await agencyWithAdmin(t, "acme");
  });
  afterAll(() => t?.close());

  const throttleKeys = async () =>
    (await t.ctx.db.selectFrom("throttle").select("key").execute()).map((r) => r.key);

  it("answers 429 with Retry-After after the limit of made-up tokens from one address, in one row", async () => {
    const max = LIMITS.tokenFailuresPerIp.max;
    const before = await throttleKeys();
    const ip = "198.51.100.77";
    const tokens = Array.from({ length: max + 20 }, madeUp);
    const answers = await Promise.all(
      tokens.map((secret) => new Script(t, secret, undefined, ip).get("/api/v1/users")),
    );
    const unauthorized = answers.filter((r) => r.statusCode === 401);
    const limited = answers.filter((r) => r.statusCode === 429);
    expect(unauthorized).toHaveLength(max);
    expect(limited).toHaveLength(20);
    expect(errorOf(limited[0]!, 429).code).toBe("rate_limited");
    expect(Number(limited[0]!.headers["retry-after"])).toBeGreaterThan(0);
    expect(Number(limited[0]!.headers["retry-after"])).toBeLessThanOrEqual(
      LIMITS.tokenFailuresPerIp.windowSeconds,
    );

    // One new counter (the address's), none per token.
    const after = await throttleKeys();
    const added = after.filter((k) => !before.includes(k));
    expect(added).toHaveLength(1);
    expect(added[0]).toContain(ip);
    for (const secret of tokens) expect(after.some((k) => k.includes(sha256Hex(secret)))).toBe(false);

    // Missing and malformed tokens from that address are refused the same way.
    expect((await new Script(t, null, undefined, ip).get("/api/v1/users")).statusCode).toBe(429);
    expect((await new Script(t, "not-a-token", undefined, ip).get("/api/v1/users")).statusCode).toBe(429);

    // A valid token from another address goes on.
    const valid = await a.createToken("HR sync", ["users.readonly"]);
    expect((await new Script(t, valid.secret).get("/api/v1/users")).statusCode).toBe(200);

    // After the window the address is answered 401 again.
    t.clock.advance(LIMITS.tokenFailuresPerIp.windowSeconds * 1000);
    expect((await new Script(t, madeUp(), undefined, ip).get("/api/v1/users")).statusCode).toBe(401);
  });

  it("counts the per-token limit by the authenticated token: no counter for a refused one", async () => {
    const before = await throttleKeys();
    const secret = madeUp();
    expect((await new Script(t, secret).get("/api/v1/users")).statusCode).toBe(401);
    const valid = await a.createToken("Reporting", ["users.readonly"]);
    const ok = await new Script(t, valid.secret).get("/api/v1/users");
    expect(ok.statusCode).toBe(200);
    expect(ok.headers["x-ratelimit-remaining"]).toBeDefined();
    const added = (await throttleKeys()).filter((k) => !before.includes(k));
    expect(added.some((k) => k.includes(valid.id))).toBe(true);
    expect(added.some((k) => k.includes(sha256Hex(secret)))).toBe(false);
  });
});
