// Issue 15 defect 6, in Chromium: the "Test passed" banner that greets an admin coming back from a
// test (/settings/sso?test=<id>) follows the test's current status. Editing the connection expires
// the test and turns the toggles off; the banner above must stop saying "Test passed … You can now
// turn on Enable SSO".
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrowserWorld,
  idpSignIn,
  launchChromium,
  passwordSignIn,
  screenshot,
  startBrowserWorld,
} from "./harness.js";

const ADMIN_IDP = { sub: "idp-ada", email: "admin@acme.test" };

describe("the SSO test banner in Chromium", () => {
  let world: BrowserWorld;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    world = await startBrowserWorld([
      { sub: ADMIN_IDP.sub, claims: { email: ADMIN_IDP.email, email_verified: true, name: "Ada Admin" } },
    ]);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it("stops saying “Test passed” once an edit has expired the test", async () => {
    await passwordSignIn(page, world.origin, world.adminEmail, world.password);
    await page.waitForURL((url) => url.pathname === "/");
    const created = await page.evaluate(
      async (body) => {
        const res = await fetch("/api/admin/sso/connections", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        return res.status;
      },
      {
        type: "oidc",
        name: "Acme IdP",
        clientId: world.idp.clientId,
        clientSecret: world.idp.clientSecret,
        discoveryUrl: world.idp.discoveryUrl,
      },
    );
    expect(created).toBe(201);

    await page.goto(`${world.origin}/settings/sso`);
    const card = page.locator(".connection-card");
    const banner = page.locator(".banner");
    await card.getByRole("button", { name: "Start Test" }).click();
    await page.waitForURL((url) => url.searchParams.has("test") || url.pathname.includes("/interaction/"));
    if (!new URL(page.url()).searchParams.has("test")) {
      await idpSignIn(page, ADMIN_IDP.email);
      await page.waitForURL((url) => url.searchParams.has("test"));
    }
    await expect.poll(() => banner.getByText("Test passed", { exact: true }).isVisible()).toBe(true);
    await expect.poll(() => banner.innerText()).toContain("You can now turn on Enable SSO");

    // Edit the connection without leaving the page (the URL keeps ?test=).
    await page.getByRole("button", { name: "More actions for Acme IdP" }).click();
    await page.getByRole("menuitem", { name: "Edit" }).click();
    await page.getByRole("heading", { name: "Client ID & Secret" }).waitFor();
    await page.getByLabel("Display name").fill("Acme Login");
    for (const step of ["OIDC Configuration", "User Details Mapping", "Review & Finish"]) {
      await page.getByRole("button", { name: "Next" }).click();
      await page.getByRole("heading", { name: step }).waitFor();
    }
    await page.getByRole("button", { name: "Finish" }).click();
    await card.getByRole("heading", { name: "Acme Login" }).waitFor();
    await expect.poll(() => card.getByText("Expired", { exact: true }).isVisible()).toBe(true);
    expect(new URL(page.url()).searchParams.has("test")).toBe(true);

    await expect.poll(() => banner.getByText("Test expired", { exact: true }).isVisible()).toBe(true);
    expect(await page.getByText("Test passed", { exact: true }).count()).toBe(0);
    expect(await page.getByText(/You can now turn on Enable SSO/).count()).toBe(0);
    await screenshot(page, "test-banner-expired-after-edit");

    // A reload shows the same current status.
    await page.reload();
    await expect.poll(() => banner.getByText("Test expired", { exact: true }).isVisible()).toBe(true);
    expect(await page.getByText("Test passed", { exact: true }).count()).toBe(0);
  }, 60_000);
});
