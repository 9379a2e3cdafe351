// The SSO browser binding (issue 14 item 7; login CSRF, RFC 9700 §4.7.1): every start issues a
// fresh value server-side, a value planted in the browser binds nothing, several tabs keep working,
// and on https every cookie is a `__Host-` cookie a related domain cannot plant.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomToken } from "../../src/crypto/tokens.js";
import { MAX_PENDING_FLOWS } from "../../src/sso/binding.js";
import { Browser, type BrowserResponse, signInAtIdp } from "../support/browser.js";
import { storages } from "../support/db.js";
import type { Idp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

/** The `Set-Cookie` lines of a response. */
function setCookies(res: BrowserResponse): string[] {
  const raw = res.headers["set-cookie"];
  return Array.isArray(raw) ? raw : raw ? [raw] : [];
}

/** Every cookie a response sets is `__Host-`: Secure, Path=/, no Domain. Returns their names. */
function expectHostCookies(res: BrowserResponse): string[] {
  const lines = setCookies(res);
  expect(lines.length, `${res.url} set no cookie`).toBeGreaterThan(0);
  return lines.map((line) => {
    const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
    const name = pair.slice(0, pair.indexOf("="));
    const keys = attributes.map((a) => a.split("=")[0]!.toLowerCase());
    expect(name, line).toMatch(/^__Host-/);
    expect(keys, line).toContain("secure");
    expect(attributes, line).toContain("Path=/");
    expect(keys, line).not.toContain("domain");
    return name;
  });
}

describe.each(storages())("the SSO browser binding (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;
  let port: string;
  const startUrl = () => `${w.origin}/login/sso/start?connection=${connectionId}`;
  /** A cookie set from another host of the same site (`evil.localhost` → every `*.localhost`). */
  const plant = (browser: Browser, cookie: string) =>
    browser.jar.setCookie(`http://evil.localhost:${port}/`, `${cookie}; Domain=localhost; Path=/`);
  const me = async (browser: Browser) => {
    const res = await browser.get(`${w.origin}/api/auth/me`);
    return res.status === 200 ? res.json<{ user: { email: string } }>().user.email : res.status;
  };
  /** The browser's binding values (the cookie of this host, not planted ones). */
  const bindingValues = (browser: Browser) =>
    browser.jar
      .all()
      .find((c) => c.name === "copilot_sso" && c.hostOnly)
      ?.value.split(".") ?? [];

  beforeAll(async () => {
    w = await createSsoWorld(storage, "acme", { TRUST_PROXY: "true" });
    port = new URL(w.origin).port;
    idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } },
      { sub: "user-mallory", claims: { email: "mallory@acme.test", email_verified: true } },
    ]);
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
    await w.t.seedUser(w.agencyId, { email: "mallory@acme.test", role: "admin" });
    connectionId = await w.connectIdp(idp, { enableAs: "user-alice" });
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  it("issues a fresh value at every start and never keeps one it did not issue", async () => {
    const chosen = randomToken(32); // the shape the old code reused as it was
    const browser = new Browser();
    browser.jar.setCookie(w.origin, `copilot_sso=${chosen}; Path=/`);
    const first = await browser.get(startUrl());
    expect(first.status).toBe(302);
    const afterFirst = bindingValues(browser);
    expect(afterFirst).toHaveLength(1);
    expect(afterFirst).not.toContain(chosen);
    await browser.get(startUrl());
    const afterSecond = bindingValues(browser);
    expect(afterSecond).toHaveLength(2);
    expect(afterSecond[1]).toBe(afterFirst[0]);
    expect(afterSecond[0]).not.toBe(afterFirst[0]);
  });

  it("refuses the attacker's callback in a browser where the attacker planted the binding", async () => {
    // The attacker starts a flow with a binding value they chose, signs in at the IdP as
    // themselves and keeps the callback URL…
    const chosen = randomToken(32);
    const attacker = new Browser();
    attacker.jar.setCookie(w.origin, `copilot_sso=${chosen}; Path=/`);
    const { callback } = await w.toCallback(connectionId, "user-mallory", attacker);
    // …plants that value in the victim's browser from a related domain and sends the victim there.
    const victim = new Browser();
    plant(victim, `copilot_sso=${chosen}`);
    const res = await victim.get(callback);
    expect(where(res)).toBe("/login?error=sso_failed");
    expect(await me(victim)).toBe(401);
    const [failure] = await w.auditFor("sso.sign_in");
    expect(failure).toMatchObject({ outcome: "failure" });
    expect(failure!.details.cause).toBe("state refused: browser_mismatch");
  });

  it("keeps several flows of one browser usable (two tabs), each once", async () => {
    const browser = new Browser();
    const tabA = await browser.get(startUrl());
    const tabB = await browser.get(startUrl());
    const b = await signInAtIdp(browser, tabB.location!, "user-alice", { stopAtCallback: true });
    const a = await signInAtIdp(browser, tabA.location!, "user-alice", { stopAtCallback: true });
    expect(where(await browser.get(w.remember(b.location!)))).toBe("/");
    expect(await me(browser)).toBe("alice@acme.test");
    expect(where(await browser.get(w.remember(a.location!)))).toBe("/");
    expect(await me(browser)).toBe("alice@acme.test");
    expect(bindingValues(browser)).toEqual([]);
    // Each state is usable once.
    expect(where(await browser.get(a.location!))).toBe("/login?error=sso_failed");
  });

  it(`keeps the last ${MAX_PENDING_FLOWS} flows of a browser, dropping the oldest`, async () => {
    const browser = new Browser();
    const starts: string[] = [];
    for (let i = 0; i <= MAX_PENDING_FLOWS; i++) starts.push((await browser.get(startUrl())).location!);
    expect(bindingValues(browser)).toHaveLength(MAX_PENDING_FLOWS);
    const oldest = await signInAtIdp(browser, starts[0]!, "user-alice", { stopAtCallback: true });
    expect(where(await browser.get(w.remember(oldest.location!)))).toBe("/login?error=sso_failed");
    const newest = await signInAtIdp(browser, starts.at(-1)!, "user-alice", { stopAtCallback: true });
    expect(where(await browser.get(w.remember(newest.location!)))).toBe("/");
  });

  describe("on https (TRUST_PROXY, X-Forwarded-Proto: https)", () => {
    const httpsBrowser = () => new Browser({ headers: { "x-forwarded-proto": "https" } });

    it("sets only __Host- cookies (Secure, Path=/, no Domain) at the start and the callback", async () => {
      const browser = httpsBrowser();
      const start = await browser.get(startUrl());
      expect(expectHostCookies(start)).toEqual(["__Host-copilot_sso"]);
      const atCallback = await signInAtIdp(browser, start.location!, "user-alice", { stopAtCallback: true });
      const res = await browser.get(w.remember(atCallback.location!));
      expect(where(res)).toBe("/");
      expect(expectHostCookies(res).sort()).toEqual([
        "__Host-copilot_mfa",
        "__Host-copilot_session",
        "__Host-copilot_sso",
      ]);
      expect(await me(browser)).toBe("alice@acme.test");
    });

    it("ignores a binding planted without the prefix, even a value the server really issued", async () => {
      // The attacker's own, genuine binding value and callback…
      const attacker = httpsBrowser();
      const { callback } = await w.toCallback(connectionId, "user-mallory", attacker);
      const issued = attacker.jar.all().find((c) => c.name === "__Host-copilot_sso")!.value;
      // …planted in the victim's browser from a related domain: browsers refuse a `__Host-` cookie
      // with a Domain, so only the unprefixed name can be planted, and it is not read on https.
      const victim = httpsBrowser();
      plant(victim, `copilot_sso=${issued}`);
      const res = await victim.get(callback);
      expect(where(res)).toBe("/login?error=sso_failed");
      expect(await me(victim)).toBe(401);
      // The same callback still works where it belongs.
      expect(where(await attacker.get(callback))).toBe("/");
      expect(await me(attacker)).toBe("mallory@acme.test");
    });
  });
});
