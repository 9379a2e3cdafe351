import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrowserWorld,
  launchChromium,
  passwordSignIn,
  screenshot,
  seriousA11yViolations,
  startBrowserWorld,
} from "./harness.js";

describe("the sign-in page in Chromium", () => {
  let world: BrowserWorld;
  let browser: Browser;
  beforeAll(async () => {
    world = await startBrowserWorld([
      { sub: "user-1", claims: { email: "u1@acme.test", email_verified: true } },
    ]);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it("signs an admin in with a password and shows the §4 message for an error code", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${world.origin}/login?error=user_not_found`);
    await expect.poll(() => page.getByText("No user found with this email.").isVisible()).toBe(true);
    await screenshot(page, "login-error");
    expect(await seriousA11yViolations(page)).toEqual([]);
    await passwordSignIn(page, world.origin, world.adminEmail, world.password);
    await page.waitForURL((url) => !url.pathname.startsWith("/login"));
    await screenshot(page, "home-after-password");
    const me = await page.evaluate(async () => (await fetch("/api/auth/me")).json());
    expect(me.user.email).toBe(world.adminEmail);
  });
});
