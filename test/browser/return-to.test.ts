// The open redirect after sign-in (issue 14 item 1), in Chromium: browsers drop tabs and newlines
// from URLs, so `/\t/evil…` used to become `//evil…`, another host. The pages apply the server's
// rule (src/shared/return-to.ts): after a password sign-in and after the 2FA step the browser
// stays on the agency's origin.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeAt, userWith2fa } from "../mfa/helpers.js";
import {
  type BrowserWorld,
  launchChromium,
  passwordSignIn,
  screenshot,
  startBrowserWorld,
} from "./harness.js";

describe("returnTo after sign-in in Chromium", () => {
  let world: BrowserWorld;
  let browser: Browser;
  let evil: http.Server;
  let evilOrigin: string;
  /** Every request the attacker's site received. */
  const phished: string[] = [];

  beforeAll(async () => {
    world = await startBrowserWorld([]);
    browser = await launchChromium();
    evil = http.createServer((req, res) => {
      phished.push(req.url ?? "");
      res.writeHead(200, { "content-type": "text/html" }).end("<title>Phish</title><h1>Phished</h1>");
    });
    await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
    evilOrigin = `http://evil.localhost:${(evil.address() as AddressInfo).port}`;
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await world?.close();
    await new Promise((resolve) => evil?.close(resolve));
  });

  /** `/login…?returnTo=` with a tab (or another character) between the slashes. */
  const attack = (separator: string) => encodeURIComponent(`/${separator}/${new URL(evilOrigin).host}/phish`);

  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    return context.newPage();
  }

  /** Waits until the page has left the sign-in pages, then checks where it is. */
  async function expectHomeOnAgency(page: Page, name: string): Promise<void> {
    await page.waitForURL((url) => !url.pathname.startsWith("/login"));
    await screenshot(page, name);
    const url = new URL(page.url());
    expect(url.origin).toBe(world.origin);
    expect(url.pathname).toBe("/");
    expect(phished).toEqual([]);
    const me = await page.evaluate(async () => (await fetch("/api/auth/me")).status);
    expect(me).toBe(200);
  }

  it.each([
    ["tab", "\t"],
    ["newline", "\n"],
  ])("stays on the agency's origin after a password sign-in with a %s in returnTo", async (name, separator) => {
    const page = await newPage();
    await page.goto(`${world.origin}/login?returnTo=${attack(separator)}`);
    await page.getByLabel("Email").fill(world.adminEmail);
    await page.getByLabel("Password").fill(world.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expectHomeOnAgency(page, `return-to-password-${name}`);
  });

  it("stays on the agency's origin after the 2FA step with a tab in returnTo", async () => {
    const host = new URL(world.origin).host;
    const user = await userWith2fa(world.t, world.agencyId, host, { email: "tfa@acme.test", role: "admin" });
    const page = await newPage();
    await passwordSignIn(page, world.origin, user.email, world.password);
    await page.waitForURL((url) => url.pathname === "/login/2fa");
    await page.goto(`${world.origin}/login/2fa?returnTo=${attack("\t")}`);
    world.t.clock.advance(30_000); // a TOTP step of its own
    await page.getByLabel("Authentication code").fill(await codeAt(world.t, user.secret));
    await page.getByRole("button", { name: "Verify", exact: true }).click();
    await expectHomeOnAgency(page, "return-to-2fa-tab");
  });

  it("still honours a same-origin returnTo", async () => {
    const page = await newPage();
    await page.goto(`${world.origin}/login?returnTo=${encodeURIComponent("/account")}`);
    await page.getByLabel("Email").fill(world.adminEmail);
    await page.getByLabel("Password").fill(world.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL((url) => url.pathname === "/account");
    expect(new URL(page.url()).origin).toBe(world.origin);
  });
});
