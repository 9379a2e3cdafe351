// The "done when": a script with only a token creates a user with externalUserId, and that
// user signs in through SSO (§4) matched by the Remote ID — although CoPilot had another email —
// and CoPilot's email follows the IdP's, on every sign-in. Deactivation through the API ends it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storages } from "../support/db.js";
import type { Idp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";
import { errorOf, Script } from "./helpers.js";

describe.each(storages())("provisioned users sign in with SSO (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;
  let script: Script;
  let userId: string;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    idp = await w.startIdp([
      {
        sub: "00u-hr-4711",
        claims: { email: "jane.doe@idp.example", email_verified: true, name: "Jane Doe" },
      },
    ]);
    const created = await w.api("POST", "/api/admin/tokens", { name: "HR sync", scopes: ["users.write"] });
    expect(created.status, created.body).toBe(201);
    script = new Script(w.t, created.json<{ secret: string }>().secret);
    connectionId = await w.connectIdp(idp);
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  it("creates the user through the API, then signs them in matched by externalUserId", async () => {
    const res = await script.post("/api/v1/users", {
      email: "jane@acme.test",
      name: "Jane",
      externalUserId: "00u-hr-4711",
      platformLanguage: "de-DE",
      subAccountIds: [w.subAccountId],
    });
    expect(res.statusCode, res.body).toBe(201);
    userId = res.json().user.id;

    await w.enable(connectionId, "00u-hr-4711");
    const { res: callback, browser } = await w.signIn(connectionId, "00u-hr-4711");
    expect(where(callback)).toBe("/");
    const me = await browser.get(`${w.origin}/api/auth/me`);
    expect(me.status).toBe(200);
    const user = me.json<{ user: Record<string, unknown> }>().user;
    expect(user).toMatchObject({ id: userId, externalUserId: "00u-hr-4711", platformLanguage: "de-DE" });
    // Found by Remote ID, so CoPilot's email follows the IdP's.
    expect(user.email).toBe("jane.doe@idp.example");
    await browser.close();

    const found = await script.get("/api/v1/users?externalUserId=00u-hr-4711");
    expect(found.json().users.map((u: { id: string; email: string }) => [u.id, u.email])).toEqual([
      [userId, "jane.doe@idp.example"],
    ]);
    expect((await script.get("/api/v1/users?email=jane%40acme.test")).json().users).toEqual([]);
  });

  it("follows a later email change at the IdP", async () => {
    idp.patchClaims("00u-hr-4711", { email: "jane.smith@idp.example" });
    const { res, browser } = await w.signIn(connectionId, "00u-hr-4711");
    expect(where(res)).toBe("/");
    const me = await browser.get(`${w.origin}/api/auth/me`);
    expect(me.json<{ user: { id: string; email: string } }>().user).toMatchObject({
      id: userId,
      email: "jane.smith@idp.example",
    });
    await browser.close();
    expect((await script.get(`/api/v1/users/${userId}`)).json().user.email).toBe("jane.smith@idp.example");
  });

  it("a user deactivated through the API loses their session and cannot sign in again", async () => {
    const { browser } = await w.signIn(connectionId, "00u-hr-4711");
    expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(200);
    expect((await script.delete(`/api/v1/users/${userId}`)).statusCode).toBe(200);
    expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(401);
    await browser.close();
    const again = await w.signIn(connectionId, "00u-hr-4711");
    expect(where(again.res)).toBe("/login?error=not_authorized");
    await again.browser.close();
    // The deactivated user is still the agency's: a re-hire is a PUT, not a second create.
    const dup = errorOf(
      await script.post("/api/v1/users", { email: "jane2@acme.test", externalUserId: "00u-hr-4711" }),
      409,
    );
    expect(dup.existingUserId).toBe(userId);
  });
});
