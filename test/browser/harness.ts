// Browser tests: Debian's Chromium driven by playwright-core against a listening CoPilot (PGlite)
// and a loopback oidc-provider with its own login page. Chromium resolves *.localhost to loopback.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { AxeBuilder } from "@axe-core/playwright";
import { type Browser, chromium, type Page } from "playwright-core";
import { WEB_DIR } from "../../src/app.js";
import { createTestApp, TEST_PASSWORD, type TestApp } from "../support/app.js";
import { type Idp, type IdpAccount, startIdp } from "../support/idp.js";

export const SCREENSHOTS = path.resolve("test-results/screenshots");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The pages are served from dist/web: build them once if a previous step did not. */
export function ensurePagesBuilt(): void {
  if (existsSync(path.join(WEB_DIR, "index.html"))) return;
  const r = spawnSync("npx", ["vite", "build", "--logLevel", "warn"], { stdio: "inherit" });
  if (r.status !== 0) throw new Error("vite build failed");
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** axe-core on the current page: the serious and critical violations (there should be none). */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

export interface BrowserWorld {
  t: TestApp;
  idp: Idp;
  origin: string;
  agencyId: string;
  subAccountId: string;
  adminEmail: string;
  password: string;
  close(): Promise<void>;
}

/** CoPilot on a free port with agency "acme" on acme.localhost, an admin, and a generic IdP. */
export async function startBrowserWorld(accounts: IdpAccount[]): Promise<BrowserWorld> {
  ensurePagesBuilt();
  const t = await createTestApp("pglite");
  const port = new URL(await t.listen()).port;
  const origin = `http://acme.localhost:${port}`;
  const agency = await t.seedAgency({ name: "Acme Health", slug: "acme", domain: "acme.localhost" });
  const subAccountId = await t.seedSubAccount(agency.id, "Main office");
  const adminEmail = "admin@acme.test";
  await t.seedUser(agency.id, { email: adminEmail, name: "Ada Admin", role: "admin" });
  const idp = await startIdp({ profile: "generic", redirectUris: [`${origin}/login/sso`], accounts });
  return {
    t,
    idp,
    origin,
    agencyId: agency.id,
    subAccountId,
    adminEmail,
    password: TEST_PASSWORD,
    async close() {
      await idp.close();
      await t.close();
    },
  };
}

/** Signs in with the email + password form of /login. */
export async function passwordSignIn(
  page: Page,
  origin: string,
  email: string,
  password: string,
): Promise<void> {
  await page.goto(`${origin}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

/** Fills the loopback IdP's own login form (fields `login` and `password`). */
export async function idpSignIn(page: Page, login: string): Promise<void> {
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', login);
  await page.click('button:has-text("Sign in")');
}
