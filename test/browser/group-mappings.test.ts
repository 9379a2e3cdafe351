// SPEC §13 in Chromium: an admin adds, edits and removes a group mapping in the connection card's
// "Group mappings" section; the server holds what the card shows.
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

describe("group mappings in Chromium", () => {
  let world: BrowserWorld;
  let browser: Browser;
  let page: Page;
  let north: string;

  beforeAll(async () => {
    world = await startBrowserWorld([
      { sub: "ada", claims: { email: "admin@acme.test", email_verified: true, groups: ["CoPilot Admins"] } },
    ]);
    north = await world.t.seedSubAccount(world.agencyId, "North");
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  async function serverMappings(connectionId: string) {
    return page.evaluate(
      async (path) => (await (await fetch(path)).json()) as { groupMappings: Array<Record<string, unknown>> },
      `/api/admin/sso/connections/${connectionId}/group-mappings`,
    );
  }

  it("adds, edits and removes a mapping", async () => {
    await passwordSignIn(page, world.origin, world.adminEmail, world.password);
    await page.waitForURL((url) => url.pathname === "/");
    const created = await page.evaluate(
      async (body) => {
        const res = await fetch("/api/admin/sso/connections", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        return (await res.json()) as { connection: { id: string } };
      },
      {
        type: "oidc",
        name: "Acme IdP",
        clientId: world.idp.clientId,
        clientSecret: world.idp.clientSecret,
        discoveryUrl: world.idp.discoveryUrl,
        groupsField: "groups",
      },
    );
    const id = created.connection.id;
    await page.goto(`${world.origin}/settings/sso`);
    const card = page.locator(".connection-card");
    await card.getByText("No group mappings yet").waitFor();

    await card.getByRole("button", { name: "Add Group Mapping" }).click();
    const dialog = page.getByRole("dialog");
    // Nothing chosen: the dialog says what is missing and sends nothing.
    await dialog.getByLabel("Group").fill("CoPilot Admins");
    await dialog.getByRole("button", { name: "Add Mapping" }).click();
    await dialog.getByText("Choose a role, sub-accounts or both.").waitFor();
    expect((await serverMappings(id)).groupMappings).toEqual([]);

    await dialog.getByLabel("Role").selectOption("admin");
    await dialog.getByLabel("North").check();
    await dialog.getByRole("button", { name: "Add Mapping" }).click();
    await dialog.waitFor({ state: "detached" });
    const table = card.getByRole("table", { name: "Group mappings of Acme IdP" });
    await table.getByText("CoPilot Admins").waitFor();
    await table.getByText("North").waitFor();
    expect((await serverMappings(id)).groupMappings).toMatchObject([
      { group: "CoPilot Admins", role: "admin", subAccountIds: [north] },
    ]);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, "group-mappings");

    // The §7 test shows the groups received and what they give.
    await card.getByRole("button", { name: "Start Test" }).click();
    await page.waitForURL((url) => url.searchParams.has("test") || url.pathname.includes("/interaction/"));
    if (!new URL(page.url()).searchParams.has("test")) {
      await idpSignIn(page, "ada");
      await page.waitForURL((url) => url.searchParams.has("test"));
    }
    const banner = page.locator(".banner");
    await banner.getByText("Test passed", { exact: true }).waitFor();
    const received = banner.getByRole("list", { name: "Groups received" });
    await received.getByText("CoPilot Admins").waitFor();
    await banner.getByText("North", { exact: true }).waitFor();
    expect(await banner.getByText("admin", { exact: true }).count()).toBe(1);

    // A duplicate group: the server's 409 shows in the dialog.
    await card.getByRole("button", { name: "Add Group Mapping" }).click();
    await dialog.getByLabel("Group").fill("CoPilot Admins");
    await dialog.getByLabel("Role").selectOption("analyst");
    await dialog.getByRole("button", { name: "Add Mapping" }).click();
    await dialog.getByText("This group already has a mapping on this connection").waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();

    await card.getByRole("button", { name: "Edit CoPilot Admins" }).click();
    await dialog.getByLabel("Role").selectOption("analyst");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    await expect.poll(async () => (await serverMappings(id)).groupMappings[0]?.role).toBe("analyst");
    await table.getByText("Analyst").waitFor();

    await card.getByRole("button", { name: "Remove CoPilot Admins" }).click();
    await card.getByText("No group mappings yet").waitFor();
    expect((await serverMappings(id)).groupMappings).toEqual([]);
  });
});
