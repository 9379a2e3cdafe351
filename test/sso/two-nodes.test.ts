// Two nodes of one deployment (issue 13 §3): each with its own DATA_DIR, the same JWT_SECRET and no
// SSO_STATE_SECRET (which falls back to JWT_SECRET, SPEC §4 and the README). An SSO sign-in started
// on node A finishes on node B: the load balancer may send the callback to either.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createContext } from "../../src/context.js";
import { Browser } from "../support/browser.js";
import { storages } from "../support/db.js";
import type { Idp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

describe.each(storages())("an SSO flow across two nodes (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionId: string;
  let nodeB: FastifyInstance;
  let nodeBPort: string;
  const dataDirB = mkdtempSync(path.join(os.tmpdir(), "copilot-node-b-"));

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    const a = w.t.ctx.config;
    expect(process.env.SSO_STATE_SECRET).toBeUndefined();
    // Node B: its own DATA_DIR (its own development secrets file), the deployment's shared
    // JWT_SECRET and ENCRYPTION_KEY, the same database.
    const configB = loadConfig({
      NODE_ENV: "test",
      DATA_DIR: dataDirB,
      PUBLIC_URL: a.publicUrl.href,
      JWT_SECRET: a.jwtSecret,
      ENCRYPTION_KEY: a.encryptionKey,
      ALLOW_PRIVATE_IDP_URLS: "true",
      LOG_LEVEL: "silent",
    });
    expect(configB.dataDir).not.toBe(a.dataDir);
    nodeB = await buildApp(createContext(configB, w.t.ctx.db, { now: w.t.clock.now, idpTimeoutMs: 1500 }));
    await nodeB.listen({ port: 0, host: "127.0.0.1" });
    const address = nodeB.server.address();
    nodeBPort = String(typeof address === "object" && address ? address.port : 0);

    idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } },
    ]);
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
    connectionId = await w.connectIdp(idp, { enableAs: "user-alice" });
  });
  afterAll(async () => {
    await nodeB?.close();
    await idp?.close();
    await w?.close();
    rmSync(dataDirB, { recursive: true, force: true });
  });

  it("finishes on node B a sign-in started on node A", async () => {
    const browser = new Browser();
    // Started on node A: the state is signed there, the binding cookie set for acme.localhost.
    const callback = new URL((await w.toCallback(connectionId, "user-alice", browser)).callback);
    expect(callback.port).toBe(new URL(w.origin).port);
    // The callback reaches node B (same host name, cookies are per host).
    callback.port = nodeBPort;
    const res = await browser.get(callback.href);
    expect(where(res), res.body).toBe("/");
    const me = await browser.get(`http://acme.localhost:${nodeBPort}/api/auth/me`);
    expect(me.status).toBe(200);
    expect(me.json<{ user: { id: string; email: string } }>().user.email).toBe("alice@acme.test");
    // And node A honours the session node B started.
    expect((await browser.get(`${w.origin}/api/auth/me`)).status).toBe(200);
  });
});
