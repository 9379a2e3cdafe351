// The setup wizard for the kinds scenarios.test.ts does not drive (Azure Entra ID, Cloudflare
// Access), rendered from GET /api/admin/sso/kinds: Azure's metadata URL follows the tenant, a
// server 422 brings the admin back to the step and field it names, Cloudflare's team domain is
// checked before saving and stored bare; the review and the card show the description's labels.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrowserWorld,
  launchChromium,
  passwordSignIn,
  screenshot,
  seriousA11yViolations,
  startBrowserWorld,
} from "./harness.js";

const TENANT = "6d3c6b0e-4f2a-4c8e-9a51-2b7f0c1d9e84";
const metadataUrl = (tenant: string) =>
  `https://login.microsoftonline.com/${tenant}/v2.0/.well-known/openid-configuration`;

interface StoredConnection {
  type: string;
  name: string;
  azureTenantId: string | null;
  discoveryUrl: string | null;
  teamDomain: string | null;
  audience: string | null;
  mapping: Record<string, string | null>;
}

describe("the setup wizard for Azure and Cloudflare, in Chromium", () => {
  let world: BrowserWorld;
  let browser: Browser;
  let page: Page;

  const next = () => page.getByRole("button", { name: "Next" }).click();
  const heading = (name: string) => page.getByRole("heading", { name }).waitFor();
  const connections = () =>
    page.evaluate(
      async () =>
        ((await (await fetch("/api/admin/sso")).json()) as { connections: StoredConnection[] }).connections,
    );

  beforeAll(async () => {
    world = await startBrowserWorld([]);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    await passwordSignIn(page, world.origin, world.adminEmail, world.password);
    await page.waitForURL((url) => url.pathname === "/");
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it("Azure: the metadata URL follows the tenant, and the server's 422 lands on the tenant field", async () => {
    await page.goto(`${world.origin}/settings/sso`);
    await page.getByRole("button", { name: "Enable SSO" }).click();
    await page.getByRole("radio", { name: "Azure Entra ID" }).check();
    await expect.poll(() => page.getByText("Azure Entra ID: what you'll need").isVisible()).toBe(true);
    await next();

    await heading("Client ID & Secret");
    expect(await page.getByLabel("Display name").inputValue()).toBe("Microsoft");
    expect(await page.getByLabel("Method of Authentication").isDisabled()).toBe(true);
    await page.getByLabel("Client ID", { exact: true }).fill("azure-client");
    await page.getByLabel("Client Secret", { exact: true }).fill("azure-secret-value");
    // Not a GUID nor a domain: the browser lets it through, the server refuses it.
    await page.getByLabel("Directory (tenant) ID").fill("contoso");
    await next();

    await heading("OIDC Configuration");
    expect(await page.getByLabel("OIDC Config URL").inputValue()).toBe(metadataUrl("contoso"));
    await page.getByRole("radio", { name: "No" }).check();
    await expect
      .poll(() =>
        page.getByText("CoPilot discovers the endpoints from your Directory (tenant) ID.").isVisible(),
      )
      .toBe(true);
    await page.getByRole("radio", { name: "Yes" }).check();
    await next();

    await heading("User Details Mapping");
    expect(await page.getByLabel("Email Field", { exact: true }).inputValue()).toBe("userPrincipalName");
    expect(await page.getByLabel("Email Verified Field").inputValue()).toBe("email");
    await next();

    await heading("Review & Finish");
    const review = await page.locator(".wizard .summary").innerText();
    expect(review).toContain("Azure Entra ID");
    expect(review).toContain("Directory (tenant) ID");
    expect(review).not.toContain("azure-secret-value");
    await page.getByRole("button", { name: "Finish" }).click();

    // The server names azureTenantId: back on step 1, the message under the field, focused.
    await heading("Client ID & Secret");
    const tenant = page.getByLabel("Directory (tenant) ID");
    await expect.poll(() => tenant.getAttribute("aria-invalid")).toBe("true");
    await expect
      .poll(() => page.getByText(/azureTenantId must be a Directory \(tenant\) ID/).isVisible())
      .toBe(true);
    await expect.poll(() => tenant.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await connections()).toEqual([]);
    await screenshot(page, "wizard-azure-server-error");
    expect(await seriousA11yViolations(page)).toEqual([]);

    await tenant.fill(TENANT);
    await next();
    await heading("OIDC Configuration");
    expect(await page.getByLabel("OIDC Config URL").inputValue()).toBe(metadataUrl(TENANT));
    await next();
    await next();
    await heading("Review & Finish");
    await page.getByRole("button", { name: "Finish" }).click();

    const card = page.locator(".connection-card");
    await card.getByRole("heading", { name: "Microsoft" }).waitFor();
    expect(await card.locator(".connection-subtitle").innerText()).toContain("Azure Entra ID");
    const [saved] = await connections();
    expect(saved).toMatchObject({
      type: "azure",
      name: "Microsoft",
      azureTenantId: TENANT,
      discoveryUrl: metadataUrl(TENANT),
      mapping: { emailField: "userPrincipalName", emailVerifiedField: "email" },
    });
  }, 60_000);

  it("Cloudflare: the team domain is checked before saving and stored bare; the card lists it", async () => {
    await page.goto(`${world.origin}/settings/sso`);
    await page.getByRole("button", { name: "Add connection" }).click();
    await page.getByRole("radio", { name: "Cloudflare Access" }).check();
    await next();

    await heading("Team domain & Audience");
    await expect
      .poll(() => page.getByText(/Cloudflare Access needs no client secret/).isVisible())
      .toBe(true);
    expect(await page.getByLabel("Client Secret", { exact: true }).count()).toBe(0);
    const team = page.getByLabel("Team domain");
    await team.fill("my team");
    await page.getByLabel("Application Audience (AUD) Tag").fill("aud-tag-123");
    await next();
    await expect
      .poll(() => page.getByText("Enter a domain such as myteam.cloudflareaccess.com.").isVisible())
      .toBe(true);
    await expect.poll(() => team.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await team.fill("https://MyTeam.cloudflareaccess.com/");
    await next();

    await heading("User Details Mapping");
    expect(await page.getByLabel("Email Verified Field").inputValue()).toBe("email");
    expect(await page.getByLabel("Name Field").inputValue()).toBe("");
    await next();
    await heading("Review & Finish");
    const review = await page.locator(".wizard .summary").innerText();
    expect(review).toContain("myteam.cloudflareaccess.com");
    expect(review).not.toContain("Client Secret");
    await page.getByRole("button", { name: "Finish" }).click();

    const card = page.locator(".connection-card", { hasText: "Cloudflare Access" });
    await card.getByRole("heading", { name: "Cloudflare Access" }).waitFor();
    const saved = (await connections()).find((c) => c.type === "cloudflare-access");
    expect(saved).toMatchObject({
      teamDomain: "myteam.cloudflareaccess.com",
      audience: "aud-tag-123",
      mapping: { emailVerifiedField: "email", nameField: null },
    });
    await card.getByRole("button", { name: "SSO Configuration" }).click();
    await expect.poll(() => card.locator(".summary").innerText()).toContain("Application Audience (AUD) Tag");
    expect(await card.locator(".summary").innerText()).toContain("myteam.cloudflareaccess.com");
    await screenshot(page, "wizard-cloudflare-card");
    expect(await seriousA11yViolations(page)).toEqual([]);
  }, 60_000);
});
