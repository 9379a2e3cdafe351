// SPEC §17 in Chromium: an admin runs a passing and a failing test of a connection, follows the
// banner's "View trace", then browses the connection's sign-in attempts on the SSO page (filtered
// to the failed ones) and opens one: its step, cause, claim names and the redacted callback show.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrowserWorld,
  idpSignIn,
  launchChromium,
  passwordSignIn,
  screenshot,
  seriousA11yViolations,
  startBrowserWorld,
} from "./harness.js";

const ADA = { sub: "idp-ada-5d21", email: "admin@acme.test" };
const NOMAIL = { sub: "idp-nomail-8e40" };

describe("connection traces in Chromium", () => {
  let world: BrowserWorld;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    world = await startBrowserWorld([
      { sub: ADA.sub, claims: { email: ADA.email, email_verified: true, name: "Ada Admin" } },
      { sub: NOMAIL.sub, claims: { name: "Nobody" } },
    ]);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  /** Start Test on the card, sign in at the IdP as `login` (a fresh IdP session), back to ?test=. */
  async function runTest(login: string) {
    await page.context().clearCookies({ domain: "127.0.0.1" });
    await page.goto(`${world.origin}/settings/sso`);
    await page.locator(".connection-card").getByRole("button", { name: "Start Test" }).click();
    await page.waitForURL((url) => url.searchParams.has("test") || url.pathname.includes("/interaction/"));
    if (!new URL(page.url()).searchParams.has("test")) {
      await idpSignIn(page, login);
      await page.waitForURL((url) => url.searchParams.has("test"));
    }
  }

  it("links a test to its trace and lists the connection's attempts", async () => {
    await passwordSignIn(page, world.origin, world.adminEmail, world.password);
    await page.waitForURL((url) => url.pathname === "/");
    const created = await page.evaluate(
      async (body) =>
        (
          await fetch("/api/admin/sso/connections", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          })
        ).status,
      {
        type: "oidc",
        name: "Acme IdP",
        clientId: world.idp.clientId,
        clientSecret: world.idp.clientSecret,
        discoveryUrl: world.idp.discoveryUrl,
      },
    );
    expect(created).toBe(201);

    // A passing test: the banner links to its trace.
    await runTest(ADA.sub);
    const banner = page.locator(".banner");
    await expect.poll(() => banner.getByText("Test passed", { exact: true }).isVisible()).toBe(true);
    await banner.getByRole("link", { name: "View trace" }).click();
    await page.waitForURL((url) => url.pathname.startsWith("/settings/sso/traces/"));
    await page.getByRole("heading", { name: "Sign-in attempt", level: 1 }).waitFor();
    const summary = page.locator(".details");
    await expect.poll(() => summary.innerText()).toContain("Completed (done)");
    await expect.poll(() => summary.innerText()).toContain(ADA.email); // the matched user, joined at read time
    const claims = page.getByRole("list", { name: "Claim names received" });
    expect(await claims.getByText("email", { exact: true }).count()).toBe(1);
    expect(await claims.getByText("sub", { exact: true }).count()).toBe(1);
    const callback = page.locator(".trace-json").first();
    await expect.poll(() => callback.innerText()).toContain('"code": "[redacted:');
    expect(await page.locator("body").innerText()).not.toContain(ADA.sub);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, "trace-passed-test");

    // A failing test (no email claim), then the list on the SSO page.
    await runTest(NOMAIL.sub);
    await expect.poll(() => banner.getByText("Test failed", { exact: true }).isVisible()).toBe(true);
    const card = page.locator(".connection-card");
    await card.getByRole("button", { name: "Sign-in attempts" }).click();
    const table = card.getByRole("table", { name: "Sign-in attempts, newest first" });
    await table.waitFor();
    await expect.poll(() => table.locator("tbody tr").count()).toBe(2);
    const rows = table.locator("tbody tr");
    expect(await rows.nth(0).innerText()).toContain("Failed");
    expect(await rows.nth(1).innerText()).toContain("Succeeded");
    expect(await rows.nth(1).innerText()).toContain(ADA.email);
    expect(await seriousA11yViolations(page)).toEqual([]);

    await card.getByRole("button", { name: "Failed", exact: true }).click();
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().innerText()).toContain("Mapping the user details");
    expect(await card.getByRole("button", { name: "Failed", exact: true }).getAttribute("aria-pressed")).toBe(
      "true",
    );
    await card.getByRole("button", { name: "Succeeded", exact: true }).click();
    await expect
      .poll(async () => (await rows.count()) === 1 && (await rows.first().innerText()).includes("Succeeded"))
      .toBe(true);
    await card.getByRole("button", { name: "Failed", exact: true }).click();
    await expect.poll(async () => (await rows.first().innerText()).includes("Failed")).toBe(true);
    await screenshot(page, "trace-list-failed");

    await rows
      .first()
      .getByRole("link", { name: /^Details of the test of/ })
      .click();
    await page.waitForURL((url) => url.pathname.startsWith("/settings/sso/traces/"));
    await expect.poll(() => summary.innerText()).toContain("Mapping the user details (mapping)");
    expect(await summary.innerText()).toContain(
      "emailField or idField is not configured properly, please contact your admin.",
    );
    expect(await summary.innerText()).toMatch(/Cause\s+the email claim "email" is missing/);
    expect(await claims.getByText("sub", { exact: true }).count()).toBe(1);
    expect(await claims.getByText("email", { exact: true }).count()).toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, "trace-failed-test");

    // A reload of the trace page (its own route) shows the same attempt.
    await page.reload();
    await expect
      .poll(() => page.locator(".details").innerText())
      .toContain("Mapping the user details (mapping)");
  }, 90_000);
});
