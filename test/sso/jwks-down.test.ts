// The IdP's JWKS endpoint fails (issue 13 §3): the sign-in ends with sso_failed and the audit
// cause says what happened (HTTP status, timeout); once the endpoint is back, sign-ins work again
// after the short retry backoff (1 s) — not after the 30 s unknown-kid cooldown.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storages } from "../support/db.js";
import type { Idp } from "../support/idp.js";
import { type LoopbackServer, startLoopbackServer } from "../support/loopback-server.js";
import { createSsoWorld, manualEndpoints, type SsoWorld, where } from "../support/sso.js";

describe.each(storages())("a JWKS endpoint that fails (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let jwks: LoopbackServer;
  let jwksUri: string;
  let connectionId: string;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } },
    ]);
    // The IdP's key set, served from a host of its own that can be taken down.
    jwks = await startLoopbackServer((_req, res) => {
      fetch(idp.endpoints.jwks)
        .then(async (r) => {
          res.writeHead(r.status, { "content-type": "application/json" });
          res.end(await r.text());
        })
        .catch(() => res.destroy());
    });
    jwksUri = `${jwks.origin}/jwks`;
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
    connectionId = await w.connectIdp(idp, {
      enableAs: "user-alice",
      fields: { name: "Manual", ...manualEndpoints(idp), jwksUri },
    });
  });
  afterAll(async () => {
    await jwks?.close();
    await idp?.close();
    await w?.close();
  });

  it.each([
    [
      "error",
      /the JWKS of 127\.0\.0\.1:\d+ could not be downloaded \(the JWKS endpoint .* answered HTTP 503\)/,
    ],
    [
      "hang",
      /the JWKS of 127\.0\.0\.1:\d+ could not be downloaded \(timeout: request to 127\.0\.0\.1 timed out\)/,
    ],
  ] as const)("names the cause (%s) and signs in again 1 s after the endpoint is back", async (mode, cause) => {
    w.t.ctx.jwks.invalidate(jwksUri); // a node that has no keys cached yet
    await jwks.setDown(true, mode);
    try {
      const { res } = await w.signIn(connectionId, "user-alice");
      expect(where(res)).toBe("/login?error=sso_failed");
      const details = await w.lastSignInFailure();
      expect(details.step).toBe("id_token");
      expect(details.cause).toMatch(cause);
    } finally {
      await jwks.setDown(false);
    }
    w.t.clock.advance(1_000);
    const { res } = await w.signIn(connectionId, "user-alice");
    expect(where(res)).toBe("/");
  });
});
