// Issue 15: the caches of the SSO code (discovered providers, the keys derived from the state
// secret, the Cloudflare Access memo, the connections cache) belong to the application context
// and run on its clock (ctx.now): two apps in one process share none of them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppContext, createContext } from "../../src/context.js";
import { READ_CACHE_TTL_MS } from "../../src/db/read-cache.js";
import { agencyConnections } from "../../src/sso/connections.js";
import { forgetProvider, providerFor } from "../../src/sso/oidc.js";
import { createState, issueBrowserBinding, verifyState } from "../../src/sso/state.js";
import { storages } from "../support/db.js";
import type { Idp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld } from "../support/sso.js";

describe.each(storages())("caches per application context (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;
  /** A second context in the same process, on the same database, with another state secret. */
  let other: AppContext;

  const discoveries = () =>
    idp.requests.filter((r) => r.url.includes("/.well-known/openid-configuration")).length;
  const row = () =>
    w.t.ctx.db
      .selectFrom("sso_connections")
      .selectAll()
      .where("id", "=", connectionId)
      .executeTakeFirstOrThrow();

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } },
    ]);
    connectionId = await w.connectIdp(idp);
    other = createContext(
      { ...w.t.ctx.config, ssoStateSecret: "another-state-secret-0123456789abcdef" },
      w.t.ctx.db,
      {
        now: w.t.clock.now,
      },
    );
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  it("discovers a provider once per context: another context neither sees nor drops it", async () => {
    const r = await row();
    const first = await providerFor(w.t.ctx, r);
    const before = discoveries();
    expect(await providerFor(w.t.ctx, r)).toBe(first);
    expect(discoveries()).toBe(before);

    const second = await providerFor(other, r);
    expect(second).not.toBe(first);
    expect(discoveries()).toBe(before + 1);

    forgetProvider(other, connectionId);
    expect(await providerFor(w.t.ctx, r)).toBe(first);
    expect(discoveries()).toBe(before + 1);
  });

  it("expires a cached provider after an hour of the context's clock", async () => {
    const r = await row();
    const cached = await providerFor(w.t.ctx, r);
    w.t.clock.advance(60 * 60_000 + 1);
    try {
      const before = discoveries();
      expect(await providerFor(w.t.ctx, r)).not.toBe(cached);
      expect(discoveries()).toBe(before + 1);
    } finally {
      w.t.clock.advance(-(60 * 60_000 + 1));
    }
  });

  it("refuses a state made by another context with another secret, right after it was made", () => {
    const now = w.t.ctx.now().getTime();
    const browserBinding = issueBrowserBinding(w.t.ctx.stateKeys);
    const state = createState(
      w.t.ctx.stateKeys,
      { connectionId, purpose: "login", nonce: "n".repeat(43), codeVerifier: "v".repeat(43), browserBinding },
      now,
    );
    expect(verifyState(w.t.ctx.stateKeys, state, { browserBinding }, now).ok).toBe(true);
    expect(verifyState(other.stateKeys, state, { browserBinding }, now)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });

  it("keeps the connections cache and the Cloudflare memo per context, on the context's clock", async () => {
    expect(other.cloudflareMemo).not.toBe(w.t.ctx.cloudflareMemo);
    expect(other.connectionsCache).not.toBe(w.t.ctx.connectionsCache);
    const rows = await agencyConnections(w.t.ctx, w.agencyId);
    expect(rows.map((r) => r.id)).toContain(connectionId);
    expect(w.t.ctx.connectionsCache.get(w.agencyId)).toBe(rows);
    expect(other.connectionsCache.get(w.agencyId)).toBeUndefined();
    w.t.clock.advance(READ_CACHE_TTL_MS);
    try {
      expect(w.t.ctx.connectionsCache.get(w.agencyId)).toBeUndefined();
    } finally {
      w.t.clock.advance(-READ_CACHE_TTL_MS);
    }
  });
});
