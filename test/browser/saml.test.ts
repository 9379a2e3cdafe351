// SAML's ACS design in a real browser (SPEC §12): the IdP (the loopback double on 127.0.0.1, another
// site than acme.localhost) answers with an auto-submitting form; Chromium's cross-site POST to the
// ACS carries no SameSite=Lax cookie (neither the SSO binding nor the session), the ACS answers 303,
// and the same-origin GET to …/continue carries both: there the binding is checked and the test or
// sign-in settles.
import type { Browser, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServedSamlIdp, serveSamlIdp } from "../support/saml-idp.js";
import {
  type BrowserWorld,
  launchChromium,
  passwordSignIn,
  screenshot,
  seriousA11yViolations,
  startBrowserWorld,
} from "./harness.js";

describe("SAML sign-in in Chromium", () => {
  let world: BrowserWorld;
  let browser: Browser;
  let idp: ServedSamlIdp;

  beforeAll(async () => {
    world = await startBrowserWorld([]);
    browser = await launchChromium();
    idp = await serveSamlIdp({ profile: "okta" });
    idp.setUser({ nameId: "alice@acme.test", attributes: { email: ["alice@acme.test"] } });
    await world.t.seedUser(world.agencyId, {
      email: "alice@acme.test",
      role: "analyst",
      subAccountIds: [world.subAccountId],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await idp?.close();
    await world?.close();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    return context.newPage();
  }

  /** The Cookie header of each request to the ACS and to …/continue, as Chromium sent them. */
  function recordCookies(page: Page) {
    const seen: { acs: string[]; continue: string[] } = { acs: [], continue: [] };
    page.on("request", (request: Request) => {
      const url = new URL(request.url());
      const slot = url.pathname.endsWith("/acs")
        ? "acs"
        : url.pathname.endsWith("/continue")
          ? "continue"
          : null;
      if (!slot) return;
      void request.allHeaders().then((h) => seen[slot].push(h.cookie ?? ""));
    });
    return seen;
  }

  async function api(page: Page, method: string, path: string, body?: unknown) {
    return page.evaluate(
      async ({ method, path, body }) => {
        const res = await fetch(path, {
          method,
          headers: { "content-type": "application/json", accept: "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: res.status, json: await res.json().catch(() => null) };
      },
      { method, path, body },
    );
  }

  it("an admin sets up a SAML connection in the wizard from the metadata URL, passes the test and enables it; a person signs in", async () => {
    const admin = await newPage();
    await passwordSignIn(admin, world.origin, world.adminEmail, world.password);
    await admin.waitForURL((u) => !u.pathname.startsWith("/login"));

    // The wizard: provider "Okta (SAML)", the IdP's metadata URL, the preset's mapping.
    await admin.goto(`${world.origin}/settings/sso`);
    await admin.getByRole("button", { name: "Enable SSO" }).click();
    await admin.getByRole("radio", { name: "Okta (SAML)" }).check();
    await admin.getByRole("button", { name: "Next" }).click();
    await admin.getByRole("heading", { name: "Connection" }).waitFor();
    expect(await admin.getByLabel("Display name").inputValue()).toBe("Okta");
    await admin.getByRole("button", { name: "Next" }).click();
    await admin.getByRole("heading", { name: "SAML configuration" }).waitFor();
    await admin.getByLabel("IdP metadata URL").fill(idp.metadataUrl);
    await admin.getByRole("button", { name: "Next" }).click();
    await admin.getByRole("heading", { name: "User Details Mapping" }).waitFor();
    expect(await admin.getByLabel("Remote ID Field").inputValue()).toBe("NameID");
    expect(await admin.getByLabel("Email Field").inputValue()).toBe("email");
    expect(await admin.getByLabel("Email Verified Field").count()).toBe(0);
    await admin.getByRole("button", { name: "Next" }).click();
    await admin.getByRole("heading", { name: "Review & Finish" }).waitFor();
    await admin.getByRole("button", { name: "Finish" }).click();
    await admin
      .locator(".connection-card", { hasText: "Okta" })
      .getByRole("heading", { name: "Okta" })
      .waitFor();
    const list = await api(admin, "GET", "/api/admin/sso");
    const saved = list.json.connections.find((c: { type: string }) => c.type === "saml");
    expect(saved).toMatchObject({ samlMetadataUrl: idp.metadataUrl, mapping: { emailField: "email" } });
    const id = saved.id as string;

    // The SSO Configuration section shows what to paste into the IdP, and the IdP's certificate.
    await admin.goto(`${world.origin}/settings/sso`);
    await admin.getByRole("button", { name: "Copy ACS URL" }).waitFor();
    expect(await admin.getByText(`${world.origin}/login/saml/${id}/acs`).count()).toBeGreaterThan(0);
    expect(await admin.getByText("IdP certificate").count()).toBe(1);
    await screenshot(admin, "saml-connection-card");
    expect(await seriousA11yViolations(admin)).toEqual([]);

    // The §7 test in the admin's own browser: IdP → cross-site POST → 303 → same-origin GET.
    const started = await api(admin, "POST", `/api/admin/sso/connections/${id}/tests`);
    expect(started.status).toBe(201);
    const adminCookies = recordCookies(admin);
    await admin.goto(started.json.authorizationUrl);
    await admin.waitForURL((u) => u.pathname === "/settings/sso");
    await screenshot(admin, "saml-test-result");
    const test = await api(admin, "GET", `/api/admin/sso/tests/${started.json.test.id}`);
    expect(test.json.test.status, JSON.stringify(test.json)).toBe("passed");
    // The admin's Lax cookies did not come with the IdP's POST, and did come with the continue GET.
    expect(adminCookies.acs).toHaveLength(1);
    expect(adminCookies.acs[0]).not.toMatch(/copilot_sso=|copilot_session=/);
    expect(adminCookies.continue[0]).toMatch(/copilot_sso=/);
    expect(adminCookies.continue[0]).toMatch(/copilot_session=/);
    expect((await api(admin, "GET", "/api/auth/me")).status).toBe(200);

    expect(
      (await api(admin, "PUT", `/api/admin/sso/connections/${id}/enabled`, { enabled: true })).status,
    ).toBe(200);
    expect((await api(admin, "PUT", "/api/admin/sso/settings", { enabled: true })).status).toBe(200);

    // A person in a fresh context.
    const person = await newPage();
    const cookies = recordCookies(person);
    await person.goto(`${world.origin}/login/sso/start?connection=${id}`);
    await person.waitForURL((u) => u.origin === world.origin && u.pathname === "/");
    await screenshot(person, "saml-signed-in");
    expect(cookies.acs[0]).not.toMatch(/copilot_sso=/);
    expect(cookies.continue[0]).toMatch(/copilot_sso=/);
    const me = await person.evaluate(async () => (await fetch("/api/auth/me")).status);
    expect(me).toBe(200);
  }, 60_000);
});
