/**
 * `npm run demo` (demo/main.ts) as a newcomer runs it: a fresh data directory, then the printed
 * credentials must work — password sign-in, SSO sign-in at the bundled IdP, the simulated Cloudflare
 * Access path, the command line next to the running demo — and a second run on the same data works.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/postgres.js";
import { Browser, signInAtIdp } from "../support/browser.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const TSX = path.join(ROOT, "node_modules/.bin/tsx");

interface Demo {
  child: ChildProcess;
  output: () => string;
}

/** Starts the demo and resolves once it printed its URLs (or rejects with what it printed). */
function startDemo(env: NodeJS.ProcessEnv): Promise<Demo> {
  // node itself with tsx's loader: one process, so stopping it stops the demo
  const child = spawn(process.execPath, ["--import", "tsx", "demo/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start in time:\n${out}`)), 90_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("CoPilot SSO demo is running") && out.includes("API reference")) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code}):\n${out}`));
    });
  });
}

function stopDemo(demo: Demo | undefined): Promise<void> {
  if (!demo || demo.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    demo.child.once("exit", () => resolve());
    demo.child.kill("SIGTERM");
  });
}

describe("npm run demo", () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "copilot-demo-"));
  let env: NodeJS.ProcessEnv;
  let origin: string;
  let demo: Demo | undefined;

  beforeAll(async () => {
    const [port, idpPort, cfPort] = [await freePort(), await freePort(), await freePort()];
    env = {
      DEMO_DATA_DIR: dataDir,
      DEMO_PORT: String(port),
      DEMO_IDP_PORT: String(idpPort),
      DEMO_CLOUDFLARE_PORT: String(cfPort),
      DATABASE_URL: "postgres://must-not-be-used.invalid/db",
    };
    origin = `http://demo.localhost:${port}`;
    demo = await startDemo(env);
  }, 120_000);

  afterAll(async () => {
    await stopDemo(demo);
    demo?.child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The printed "<email> / <password>" pairs, so the test uses what a newcomer reads. */
  function printedCredentials(): Map<string, string> {
    const pairs = new Map<string, string>();
    for (const m of demo!.output().matchAll(/(\S+@demo\.test)\s+\/\s+(\S+)/g)) pairs.set(m[1]!, m[2]!);
    return pairs;
  }

  it("prints the sign-in page, the SSO settings page and the Cloudflare path", () => {
    const out = demo!.output();
    expect(out).toContain(`${origin}/login`);
    expect(out).toContain(`${origin}/settings/sso`);
    expect(out).toMatch(/Cloudflare Access\s+http:\/\/demo\.localhost:\d+\/login\/sso\/cloudflare/);
  });

  it("the printed admin signs in with a password and sees a passed test on an enabled OIDC connection", async () => {
    const [email, password] = [...printedCredentials()].find(([e]) => e.startsWith("admin@"))!;
    const browser = new Browser();
    const login = await browser.postJson(`${origin}/api/auth/login`, { email, password });
    expect(login.status).toBe(200);
    const sso = await browser.get(`${origin}/api/admin/sso`, { headers: { accept: "application/json" } });
    const { connections, settings } = sso.json<{
      connections: Array<{ type: string; enabled: boolean; latestTest: { status: string } | null }>;
      settings: { enabled: boolean };
    }>();
    expect(settings.enabled).toBe(true);
    const oidc = connections.find((c) => c.type === "oidc")!;
    expect(oidc).toMatchObject({ enabled: true, latestTest: { status: "passed" } });
    await browser.close();
  });

  async function ssoSignIn(email: string) {
    const browser = new Browser();
    const methods = (await browser.get(`${origin}/api/auth/methods`)).json<{
      sso: Array<{ id: string; type: string; name: string }>;
    }>();
    const button = methods.sso.find((c) => c.type === "oidc")!;
    expect(demo!.output()).toContain(`Sign in with ${button.name}`);
    const back = await signInAtIdp(browser, `${origin}/login/sso/start?connection=${button.id}`, email, {
      password: printedCredentials().get(email)!,
    });
    return { browser, back };
  }

  it("a demo person signs in with SSO at the bundled IdP and gets a session", async () => {
    const { browser, back } = await ssoSignIn("bob@demo.test");
    expect(back.status).toBe(302);
    expect(new URL(back.location!).pathname).not.toBe("/login");
    const me = await browser.get(`${origin}/api/auth/me`);
    expect(me.status).toBe(200);
    expect(me.json<{ user: { email: string } }>().user.email).toBe("bob@demo.test");
    await browser.close();
  });

  it("the person the demo says is unknown gets the §4 message code", async () => {
    const { browser, back } = await ssoSignIn("carol@demo.test");
    expect(back.location).toContain("/login?error=user_not_found");
    await browser.close();
  });

  it("the simulated Cloudflare Access signs a person in through its own port", async () => {
    const cfUrl = /Cloudflare Access\s+(http:\/\/\S+\/login\/sso\/cloudflare)/.exec(demo!.output())![1]!;
    const browser = new Browser();
    // Like the proxy's "who are you?" page: pick Alice, then open the printed URL.
    const chooser = await browser.follow(cfUrl, { stopBefore: (u) => u.pathname.includes("/cdn-cgi/") });
    expect(chooser.status).toBe(302);
    browser.jar.setCookie(new URL(cfUrl).origin, "CF_demo_identity=alice%40demo.test; Path=/");
    const done = await browser.get(cfUrl);
    expect(done.status).toBe(302);
    expect(done.location).not.toContain("error=");
    const me = await browser.get(new URL("/api/auth/me", cfUrl).href);
    expect(me.json<{ user: { email: string } }>().user.email).toBe("alice@demo.test");
    await browser.close();
  });

  it("the printed command line works next to the running demo", () => {
    const r = spawnSync(
      TSX,
      ["src/cli.ts", "user", "create", "--agency", "demo", "--email", "new@demo.test"],
      {
        cwd: ROOT,
        env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "" },
        encoding: "utf8",
      },
    );
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ user: { email: "new@demo.test" } });
  });

  it("running it a second time on the same data works", async () => {
    await stopDemo(demo);
    demo = await startDemo(env);
    const { browser } = await ssoSignIn("bob@demo.test");
    const me = await browser.get(`${origin}/api/auth/me`);
    expect(me.json<{ user: { email: string } }>().user.email).toBe("bob@demo.test");
    await browser.close();
  }, 120_000);
});
