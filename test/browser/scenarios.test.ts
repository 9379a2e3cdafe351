// The six browser scenarios of issue 7, in order: they share one CoPilot, one IdP and one Chromium,
// and each builds on the state the previous ones left (a connection, enabled SSO, users, policy).
import { createHmac } from "node:crypto";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type BrowserWorld,
  idpSignIn,
  launchChromium,
  passwordSignIn,
  screenshot,
  seriousA11yViolations,
  startBrowserWorld,
} from "./harness.js";

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 760 };

const ADMIN_IDP = { sub: "idp-ada", email: "admin@acme.test" };
const SAM = { sub: "idp-sam", email: "sam@acme.test", name: "Sam Analyst" };
const STRANGER = { sub: "idp-stranger", email: "stranger@elsewhere.test" };
const NIA = { sub: "idp-nia", email: "nia@acme.test", name: "Nia Newcomer" };

// ---- TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps), independent of the server's own code ----

function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bytes: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of text.replace(/[\s=]/g, "").toUpperCase()) {
    const value = alphabet.indexOf(char);
    if (value < 0) throw new Error(`not base32: ${char}`);
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bytes.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  return Buffer.from(bytes);
}

function totpStep(at = Date.now()): number {
  return Math.floor(at / 1000 / 30);
}

function totp(secret: string, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

// ---- page helpers ----

/** Desktop screenshot, and at 360 px wide too when `phone` is set. */
async function shoot(page: Page, name: string, phone = false): Promise<void> {
  // From the top: a full-page capture of a scrolled page draws the sticky top bar mid-page
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, name);
  if (!phone) return;
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(150);
  await screenshot(page, `${name}-360`);
  await page.setViewportSize(DESKTOP);
}

/**
 * After a click that leaves for the IdP: signs in at its login form when it asks (a context that is
 * already signed in at the IdP comes straight back), then waits until `done` matches the URL.
 */
async function throughIdp(page: Page, login: string, done: (url: URL) => boolean): Promise<void> {
  await page.waitForURL((url) => done(url) || url.pathname.includes("/interaction/"));
  if (!done(new URL(page.url()))) {
    await idpSignIn(page, login);
    await page.waitForURL(done);
  }
}

interface Me {
  user: { email: string; role: string; externalUserId: string | null; twoFactorEnabled: boolean };
}

interface SsoOverview {
  settings: { enabled: boolean; hideOtherLoginMethods: boolean; provisioning: string };
  connections: { name: string; enabled: boolean; latestTest: { status: string } | null }[];
}

/** `GET /api/auth/me` from inside the page (its cookies); `body` is null unless signed in. */
async function me(page: Page): Promise<{ status: number; body: Me | null }> {
  return page.evaluate(async () => {
    const res = await fetch("/api/auth/me");
    return { status: res.status, body: res.ok ? ((await res.json()) as Me) : null };
  });
}

async function ssoOverview(page: Page): Promise<SsoOverview> {
  return page.evaluate(async () => (await (await fetch("/api/admin/sso")).json()) as SsoOverview);
}

describe("issue 7 scenarios in Chromium", () => {
  let world: BrowserWorld;
  let browser: Browser;
  let adminContext: BrowserContext;
  let admin: Page;
  let samContext: BrowserContext;
  let sam: Page;
  let connectionName = "Acme IdP";
  /** Every page opened, for a screenshot when a scenario fails. */
  const pages: Page[] = [];
  /** The scenarios build on each other: after a failure the later ones are skipped. */
  let failed = false;

  const newPage = async (): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: DESKTOP });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    pages.push(page);
    return { context, page };
  };
  const onOrigin = (path: string) => (url: URL) => url.origin === world.origin && url.pathname === path;
  const card = () => admin.locator(".connection-card");
  const enableSwitch = () => admin.getByRole("switch", { name: "Enable SSO" });
  const hideSwitch = () => admin.getByRole("switch", { name: "Hide other login options" });

  beforeAll(async () => {
    world = await startBrowserWorld([
      { sub: ADMIN_IDP.sub, claims: { email: ADMIN_IDP.email, email_verified: true, name: "Ada Admin" } },
      { sub: SAM.sub, claims: { email: SAM.email, email_verified: true, name: SAM.name } },
      { sub: STRANGER.sub, claims: { email: STRANGER.email, email_verified: true, name: "Stranger" } },
    ]);
    browser = await launchChromium();
    ({ context: adminContext, page: admin } = await newPage());
  }, 120_000);

  beforeEach((ctx) => {
    if (failed) ctx.skip();
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== "fail" && !ctx.task.result?.errors?.length) return;
    failed = true;
    for (const [index, page] of pages.entries()) {
      const scenario = ctx.task.name.split(".")[0];
      if (!page.isClosed()) await screenshot(page, `failure-s${scenario}-${index}`).catch(() => undefined);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it("1. an admin sets up a generic OIDC connection with the wizard, tests it and turns SSO on", async () => {
    await passwordSignIn(admin, world.origin, world.adminEmail, world.password);
    await admin.waitForURL(onOrigin("/"));

    await admin.goto(`${world.origin}/settings/sso`);
    await admin.getByRole("button", { name: "Enable SSO" }).waitFor();
    await shoot(admin, "s1-sso-empty", true);
    await admin.getByRole("button", { name: "Enable SSO" }).click();

    // Provider picker
    await admin.getByRole("heading", { name: "Choose your identity provider" }).waitFor();
    for (const label of ["Generic OIDC", "Auth0", "Okta", "Azure Entra ID", "Google", "Cloudflare Access"]) {
      // "Okta" and "Google" also start "Okta (SAML)" and "Google Workspace (SAML)", providers of their own.
      const name = new RegExp(`^${label}(?!.*\\(SAML\\))`);
      await expect.poll(() => admin.getByRole("radio", { name }).count()).toBe(1);
    }
    for (const label of ["SAML 2.0", "Microsoft Entra ID (SAML)", "Okta (SAML)", "Google Workspace (SAML)"]) {
      await expect.poll(() => admin.getByRole("radio", { name: label }).count()).toBe(1);
    }
    await admin.getByRole("radio", { name: "Generic OIDC" }).check();
    await shoot(admin, "s1-wizard-0-provider");
    await admin.getByRole("button", { name: "Next" }).click();

    // Step 1: Client ID & Secret
    await admin.getByRole("heading", { name: "Client ID & Secret" }).waitFor();
    await admin.getByLabel("Display name").fill(connectionName);
    await admin.getByLabel("Client ID", { exact: true }).fill(world.idp.clientId);
    await admin.getByLabel("Client Secret", { exact: true }).fill(world.idp.clientSecret);
    await shoot(admin, "s1-wizard-1-credentials");
    await admin.getByRole("button", { name: "Next" }).click();

    // Step 2: OIDC Configuration, discovery URL; redirect URL edited, then restored with Auto-fill
    await admin.getByRole("heading", { name: "OIDC Configuration" }).waitFor();
    await admin.getByLabel("OIDC Config URL").fill(world.idp.discoveryUrl);
    expect(await admin.getByLabel("Scopes").inputValue()).toBe("openid profile email");
    const redirect = admin.getByLabel("Redirect URL");
    await redirect.fill("https://somewhere.example/callback");
    await expect
      .poll(() => admin.getByText(/Editing the Redirect URL is not advisable/).isVisible())
      .toBe(true);
    await admin.getByRole("button", { name: "Auto-fill" }).click();
    expect(await redirect.inputValue()).toBe(`${world.origin}/login/sso`);
    await expect.poll(() => admin.getByText(/Editing the Redirect URL is not advisable/).count()).toBe(0);
    await shoot(admin, "s1-wizard-2-oidc", true);
    await admin.getByRole("button", { name: "Next" }).click();

    // Step 3: User Details Mapping with the generic defaults
    await admin.getByRole("heading", { name: "User Details Mapping" }).waitFor();
    expect(await admin.getByLabel("Remote ID Field").inputValue()).toBe("sub");
    expect(await admin.getByLabel("ID Field", { exact: true }).inputValue()).toBe("");
    expect(await admin.getByLabel("Email Field", { exact: true }).inputValue()).toBe("email");
    expect(await admin.getByLabel("Email Verified Field").inputValue()).toBe("email_verified");
    await shoot(admin, "s1-wizard-3-mapping");
    await admin.getByRole("button", { name: "Next" }).click();

    // Step 4: Review & Finish — the secret never appears
    await admin.getByRole("heading", { name: "Review & Finish" }).waitFor();
    expect(await admin.locator(".wizard").innerText()).not.toContain(world.idp.clientSecret);
    await shoot(admin, "s1-wizard-4-review");
    await admin.getByRole("button", { name: "Finish" }).click();

    // Saved: the three sections; Enable SSO is locked until a test passes
    await card().getByRole("button", { name: "Start Test" }).waitFor();
    await expect.poll(() => admin.getByText(`“${connectionName}” saved`).isVisible()).toBe(true);
    for (const section of ["SSO Configuration", "Test Status", "Additional Settings"]) {
      await expect.poll(() => card().getByRole("button", { name: section }).count()).toBe(1);
    }
    expect(await admin.locator("body").innerText()).not.toContain(world.idp.clientSecret);
    expect(await enableSwitch().isDisabled()).toBe(true);
    await shoot(admin, "s1-sso-saved");

    // Start Test: sign in at the IdP, come back to a passed test
    await card().getByRole("button", { name: "Start Test" }).click();
    await throughIdp(admin, ADMIN_IDP.email, (url) => url.searchParams.has("test"));
    expect(new URL(admin.url()).pathname).toBe("/settings/sso");
    await expect.poll(() => admin.getByText("Test passed", { exact: true }).isVisible()).toBe(true);
    await expect
      .poll(() => admin.locator(".banner").innerText())
      .toContain("Matched CoPilot user: Ada Admin");
    await expect.poll(() => card().getByText("Passed", { exact: true }).isVisible()).toBe(true);
    await shoot(admin, "s1-sso-test-passed", true);
    expect(await seriousA11yViolations(admin)).toEqual([]);

    // Enable SSO, then Hide other login options
    await enableSwitch().check();
    await expect.poll(async () => (await ssoOverview(admin)).settings.enabled).toBe(true);
    await expect.poll(() => hideSwitch().isEnabled()).toBe(true);
    await hideSwitch().check();
    await expect.poll(async () => (await ssoOverview(admin)).settings.hideOtherLoginMethods).toBe(true);
    await admin.reload();
    await enableSwitch().waitFor();
    expect(await enableSwitch().isChecked()).toBe(true);
    expect(await hideSwitch().isChecked()).toBe(true);
    const overview = await ssoOverview(admin);
    expect(overview.connections[0]?.enabled).toBe(true);
    await shoot(admin, "s1-sso-enabled", true);
  }, 60_000);

  it("2. a provisioned user signs in with the SSO button; the password form is gone", async () => {
    await world.t.seedUser(world.agencyId, {
      email: SAM.email,
      name: SAM.name,
      role: "analyst",
      subAccountIds: [world.subAccountId],
      externalUserId: SAM.sub,
    });
    ({ context: samContext, page: sam } = await newPage());
    await sam.goto(`${world.origin}/login`);
    const button = sam.getByRole("link", { name: `Sign in with ${connectionName}` });
    await button.waitFor();
    expect(await sam.getByLabel("Password").count()).toBe(0);
    expect(await sam.getByLabel("Email").count()).toBe(0);
    expect(await sam.getByRole("button", { name: "Sign in", exact: true }).count()).toBe(0);
    expect(await sam.getByRole("link", { name: "Sign in with Google" }).count()).toBe(0);
    await shoot(sam, "s2-login-sso-only", true);
    expect(await seriousA11yViolations(sam)).toEqual([]);

    await button.click();
    await throughIdp(sam, SAM.email, onOrigin("/"));
    await sam.getByRole("heading", { name: "Welcome, Sam" }).waitFor();
    const who = await me(sam);
    expect(who.status).toBe(200);
    expect(who.body?.user.email).toBe(SAM.email);
    expect(who.body?.user.role).toBe("analyst");
    await shoot(sam, "s2-home-sso-user");
  }, 60_000);

  it("3. a person unknown to CoPilot sees “No user found with this email.”", async () => {
    const { context, page } = await newPage();
    try {
      await page.goto(`${world.origin}/login`);
      await page.getByRole("link", { name: `Sign in with ${connectionName}` }).click();
      await throughIdp(page, STRANGER.email, onOrigin("/login"));
      expect(new URL(page.url()).searchParams.get("error")).toBe("user_not_found");
      await expect.poll(() => page.getByText("No user found with this email.").isVisible()).toBe(true);
      expect((await me(page)).status).toBe(401);
      await shoot(page, "s3-login-user-not-found", true);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("4. editing the connection expires its test and turns both toggles off", async () => {
    await admin.goto(`${world.origin}/settings/sso`);
    await admin.getByRole("button", { name: `More actions for ${connectionName}` }).click();
    await admin.getByRole("menuitem", { name: "Edit" }).click();
    await admin.getByRole("heading", { name: "Client ID & Secret" }).waitFor();
    await expect.poll(() => admin.getByText("Edit SSO configuration").isVisible()).toBe(true);
    // The stored secret is never sent back to the page
    expect(await admin.getByLabel("Client Secret", { exact: true }).inputValue()).toBe("");
    connectionName = "Acme Login";
    await admin.getByLabel("Display name").fill(connectionName);
    await shoot(admin, "s4-wizard-edit");
    await admin.getByRole("button", { name: "Next" }).click();
    await admin.getByRole("heading", { name: "OIDC Configuration" }).waitFor();
    await admin.getByRole("button", { name: "Next" }).click();
    await admin.getByRole("heading", { name: "User Details Mapping" }).waitFor();
    await admin.getByRole("button", { name: "Next" }).click();
    await admin.getByRole("heading", { name: "Review & Finish" }).waitFor();
    await admin.getByRole("button", { name: "Finish" }).click();

    await card().getByRole("heading", { name: connectionName }).waitFor();
    await expect.poll(() => card().getByText("Expired", { exact: true }).isVisible()).toBe(true);
    await expect
      .poll(() =>
        card()
          .getByText(/no longer counts/)
          .isVisible(),
      )
      .toBe(true);
    await expect.poll(() => enableSwitch().isChecked()).toBe(false);
    expect(await hideSwitch().isChecked()).toBe(false);
    expect(await enableSwitch().isDisabled()).toBe(true);
    const overview = await ssoOverview(admin);
    expect(overview.settings).toMatchObject({ enabled: false, hideOtherLoginMethods: false });
    expect(overview.connections[0]).toMatchObject({ enabled: false, name: connectionName });
    expect(overview.connections[0]?.latestTest?.status).toBe("expired");
    const methods = await admin.evaluate(async () => (await fetch("/api/auth/methods")).json());
    expect(methods.sso).toEqual([]);
    await shoot(admin, "s4-sso-after-edit", true);

    // A new test from the ⋯ menu passes again and SSO goes back on (the next scenarios need it)
    await admin.getByRole("button", { name: `More actions for ${connectionName}` }).click();
    await admin.getByRole("menuitem", { name: "Test Configuration" }).click();
    await throughIdp(admin, ADMIN_IDP.email, (url) => url.searchParams.has("test"));
    await expect.poll(() => admin.getByText("Test passed", { exact: true }).isVisible()).toBe(true);
    await enableSwitch().check();
    await expect.poll(async () => (await ssoOverview(admin)).settings.enabled).toBe(true);
  }, 60_000);

  it("5. allowlist policy: an allowed new email is created with its role on the first SSO sign-in", async () => {
    await admin.goto(`${world.origin}/settings/sso`);
    await admin.getByRole("radio", { name: /Allowed emails/ }).check();
    await expect.poll(async () => (await ssoOverview(admin)).settings.provisioning).toBe("allowlist");

    await admin.getByRole("button", { name: "Add Email" }).click();
    const dialog = admin.getByRole("dialog");
    await dialog.waitFor();
    expect(await dialog.getByLabel("Role").inputValue()).toBe("analyst");
    await dialog.getByLabel("Email").fill(NIA.email);
    await dialog.getByLabel("Role").selectOption({ label: "Admin" });
    await shoot(admin, "s5-add-email-dialog");
    await dialog.getByRole("button", { name: "Add Email" }).click();
    await dialog.waitFor({ state: "detached" });
    const row = admin.getByRole("row", { name: new RegExp(NIA.email) });
    await row.waitFor();
    expect(await row.innerText()).toContain("Admin");
    await shoot(admin, "s5-sso-allowlist", true);

    world.idp.addAccount({
      sub: NIA.sub,
      claims: { email: NIA.email, email_verified: true, name: NIA.name },
    });
    const { context, page } = await newPage();
    try {
      await page.goto(`${world.origin}/login`);
      await page.getByRole("link", { name: `Sign in with ${connectionName}` }).click();
      await throughIdp(page, NIA.email, onOrigin("/"));
      await page.getByRole("heading", { name: "Welcome, Nia" }).waitFor();
      const who = await me(page);
      expect(who.body?.user).toMatchObject({ email: NIA.email, role: "admin", externalUserId: NIA.sub });
      await shoot(page, "s5-home-new-admin");
    } finally {
      await context.close();
    }

    await admin.goto(`${world.origin}/settings/users`);
    const userRow = admin.getByRole("row", { name: new RegExp(NIA.email) });
    await userRow.waitFor();
    const text = await userRow.innerText();
    expect(text).toContain("Admin");
    expect(text).toContain(NIA.sub);
    await shoot(admin, "s5-users");

    // Back to "Existing users only" for the next scenario (Sam is not on the list)
    await admin.goto(`${world.origin}/settings/sso`);
    await admin.getByRole("radio", { name: /Existing users only/ }).check();
    await expect.poll(async () => (await ssoOverview(admin)).settings.provisioning).toBe("existing-users");
  }, 60_000);

  it("6. 2FA: enrol from the account page, sign out, sign in through SSO and enter the TOTP", async () => {
    await sam.goto(`${world.origin}/account`);
    await sam.getByRole("button", { name: "Set up two-factor authentication" }).click();
    const secretText = sam.locator(".secret-text");
    await secretText.waitFor();
    await sam.getByRole("img", { name: /QR code/ }).waitFor();
    const secret = (await secretText.innerText()).replace(/\s+/g, "");
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    await shoot(sam, "s6-account-2fa-setup", true);

    const enrolStep = totpStep();
    await sam.getByLabel("Authentication code").fill(totp(secret, enrolStep));
    await sam.getByRole("button", { name: "Verify" }).click();
    const codes = sam.getByRole("list", { name: "Backup codes" });
    await codes.waitFor();
    expect(await codes.getByRole("listitem").count()).toBe(10);
    await shoot(sam, "s6-account-backup-codes");
    await sam.getByRole("button", { name: "I've saved them" }).click();
    await expect.poll(() => sam.getByText(/Two-factor authentication is on/).isVisible()).toBe(true);

    await sam.getByRole("button", { name: "Sign out" }).click();
    await sam.waitForURL(onOrigin("/login"));
    expect((await me(sam)).status).toBe(401);

    await sam.getByRole("link", { name: `Sign in with ${connectionName}` }).click();
    await throughIdp(sam, SAM.email, onOrigin("/login/2fa"));
    // No session before the second factor
    expect((await me(sam)).status).toBe(401);
    await sam.getByLabel("Authentication code").waitFor();
    await shoot(sam, "s6-login-2fa", true);

    // A code is accepted once: use the next step's code when the enrolment's step is still current
    const step = Math.max(totpStep(), enrolStep + 1);
    await sam.getByLabel("Authentication code").fill(totp(secret, step));
    await sam.getByRole("button", { name: "Verify" }).click();
    await sam.waitForURL(onOrigin("/"));
    await sam.getByRole("heading", { name: "Welcome, Sam" }).waitFor();
    const who = await me(sam);
    expect(who.body?.user).toMatchObject({ email: SAM.email, twoFactorEnabled: true });
    await shoot(sam, "s6-home-after-2fa");
    await samContext.close();
    await adminContext.close();
  }, 60_000);
});
