// Issue 14 item 12: /metrics is the operator's. On the public port it is 404 without METRICS_TOKEN and
// needs `Authorization: Bearer <METRICS_TOKEN>` with it; METRICS_PORT serves it on a separate
// listener bound to loopback (METRICS_HOST), behind the token too when one is set.
import os from "node:os";
import type { FastifyInstance } from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/postgres.js";
import { buildMetricsApp } from "../../src/http/ops-routes.js";
import { Client, createTestApp, TEST_PASSWORD, type TestApp } from "../support/app.js";
import { httpRequest, seedDatabase, startServerProcess } from "../support/server-process.js";

const TOKEN = "operator-metrics-token-0123456789";
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function appWith(env: Record<string, string>): Promise<TestApp> {
  const t = await createTestApp("pglite", env);
  cleanups.push(() => t.close());
  return t;
}

/** One password sign-in, so that the counters have something to say. */
async function signIn(t: TestApp) {
  const agency = await t.seedAgency();
  const user = await t.seedUser(agency.id);
  const client = new Client(t.app, `${agency.slug}.localhost`);
  const res = await client.request({
    method: "POST",
    url: "/api/auth/login",
    payload: { email: user.email, password: TEST_PASSWORD },
  });
  expect(res.statusCode).toBe(200);
}

const scrape = (app: FastifyInstance, authorization?: string) =>
  app.inject({ url: "/metrics", headers: authorization ? { authorization } : {} });

describe("/metrics", () => {
  it("is not served on the public port without METRICS_TOKEN (404, not the metrics nor a page)", async () => {
    const t = await appWith({});
    for (const authorization of [undefined, `Bearer ${TOKEN}`, "Bearer "]) {
      const res = await scrape(t.app, authorization);
      expect([res.statusCode, res.json().error.code]).toEqual([404, "not_found"]);
      expect(res.body).not.toContain("copilot_");
    }
  });

  it("needs the exact bearer token on the public port when METRICS_TOKEN is set", async () => {
    const t = await appWith({ METRICS_TOKEN: TOKEN });
    await signIn(t);
    for (const authorization of [
      undefined,
      "Bearer ",
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Bearer ${TOKEN}x`,
      `bearer ${TOKEN}`,
      `Basic ${Buffer.from(`metrics:${TOKEN}`).toString("base64")}`,
      TOKEN,
    ]) {
      const refused = await scrape(t.app, authorization);
      expect([refused.statusCode, refused.json().error.code], String(authorization)).toEqual([
        401,
        "unauthorized",
      ]);
      expect(refused.headers["www-authenticate"]).toBe('Bearer realm="metrics"');
      expect(refused.body).not.toContain("copilot_");
    }
    const ok = await scrape(t.app, `Bearer ${TOKEN}`);
    expect(ok.statusCode).toBe(200);
    expect(ok.headers["content-type"]).toContain("text/plain");
    expect(ok.body).toMatch(/copilot_sign_ins_total\{method="password",outcome="success"\} \d+/);
    expect(ok.body).toMatch(/copilot_http_request_duration_seconds_bucket/);
  });

  it("is served by the operator listener (METRICS_PORT), behind the token when one is set", async () => {
    const open = await appWith({ METRICS_PORT: "9464" });
    await signIn(open);
    const operator = await buildMetricsApp(open.ctx);
    cleanups.push(() => operator.close());
    await operator.listen({ port: 0, host: "127.0.0.1" });
    const port = (operator.server.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/copilot_sign_ins_total\{method="password",outcome="success"\} \d+/);
    expect((await scrape(open.app)).statusCode).toBe(404); // still not on the public port

    const guarded = await appWith({ METRICS_PORT: "9464", METRICS_TOKEN: TOKEN });
    const guardedOperator = await buildMetricsApp(guarded.ctx);
    cleanups.push(() => guardedOperator.close());
    expect((await scrape(guardedOperator)).statusCode).toBe(401);
    expect((await scrape(guardedOperator, `Bearer ${TOKEN}`)).statusCode).toBe(200);
  });

  it("the server binds METRICS_PORT to loopback by default: not reachable on the machine's other addresses", async () => {
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    const seeded = await seedDatabase(null);
    cleanups.push(seeded.remove);
    const metricsPort = await freePort();
    const server = await startServerProcess({
      PORT: String(await freePort()),
      HOST: "0.0.0.0",
      DATA_DIR: seeded.dataDir,
      METRICS_PORT: String(metricsPort),
      SHUTDOWN_DRAIN_SECONDS: "0",
    });
    cleanups.push(() => server.child.kill("SIGKILL"));
    const local = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(local.status).toBe(200);
    expect(await local.text()).toContain("copilot_http_request_duration_seconds");
    const publicPort = await httpRequest(server.port, { path: "/metrics", host: "localhost" });
    expect(publicPort.status).toBe(404);
    if (external) {
      // The public port answers on the external address, the metrics port does not.
      expect((await fetch(`http://${external}:${server.port}/healthz`)).status).toBe(200);
      const refused = await fetch(`http://${external}:${metricsPort}/metrics`).then(
        () => "answered",
        (err: Error & { cause?: { code?: string } }) => err.cause?.code,
      );
      expect(refused).toBe("ECONNREFUSED");
    }
  }, 90_000);
});
