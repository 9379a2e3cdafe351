// Home-realm lookup on the instance host (issue 14 item 8): the same work for every email, so
// neither the answer nor its cost tells which emails exist, and a per-IP limit against sweeps.
// The equal work is checked structurally — the statements issued — never by timing.
import type { FastifyInstance } from "fastify";
import type { KyselyPlugin } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { createContext } from "../../src/context.js";
import { LIMITS } from "../../src/http/throttle.js";
import { createTestApp, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

describe.each(storages())("home-realm lookup (%s)", (storage) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(storage);
    const acme = await t.seedAgency({ slug: "acme", domain: "acme.localhost" });
    const globex = await t.seedAgency({ slug: "globex", domain: "globex.localhost" });
    await t.seedUser(acme.id, { email: "known@acme.test" });
    await t.seedUser(acme.id, { email: "second@acme.test" });
    await t.seedUser(globex.id, { email: "consultant@elsewhere.test" });
  });
  afterAll(() => t?.close());

  const lookup = (app: { inject: FastifyInstance["inject"] }, email: string, ip = "192.0.2.10") =>
    app.inject({
      method: "POST",
      url: "/api/auth/lookup",
      headers: { host: "localhost:3000", "content-type": "application/json" },
      payload: JSON.stringify({ email }),
      remoteAddress: ip,
    });

  it("issues the same statements for a known and an unknown email", async () => {
    // A second node on the same database whose every statement is recorded.
    const statements: string[] = [];
    const recorder: KyselyPlugin = {
      transformQuery(args) {
        statements.push(t.ctx.db.getExecutor().compileQuery(args.node, args.queryId).sql);
        return args.node;
      },
      async transformResult(args) {
        return args.result;
      },
    };
    const node = await buildApp(
      createContext(t.ctx.config, t.ctx.db.withPlugin(recorder), { now: t.clock.now }),
    );
    try {
      const run = async (email: string, ip: string) => {
        statements.length = 0;
        const res = await lookup(node, email, ip);
        expect(res.statusCode, res.body).toBe(200);
        return { url: res.json().url as string, statements: [...statements] };
      };
      await run("warm@up.test", "192.0.2.20"); // the host's (absent) agency is cached from here on
      const known = await run("known@acme.test", "192.0.2.21");
      const unknown = await run("ghost@acme.test", "192.0.2.22");
      const elsewhere = await run("consultant@elsewhere.test", "192.0.2.23");
      const nobody = await run("nobody@nowhere.test", "192.0.2.24");
      // Known or not, the same destination for the same domain, and the same statements.
      expect(new URL(known.url).host).toBe(new URL(unknown.url).host);
      expect(new URL(elsewhere.url).host).toMatch(/^globex\.localhost/);
      expect(known.statements.length).toBeGreaterThan(1);
      expect(unknown.statements).toEqual(known.statements);
      expect(elsewhere.statements).toEqual(known.statements);
      expect(nobody.statements).toEqual(known.statements);
    } finally {
      await node.close();
    }
  });

  it("limits lookups per IP: a burst of 40 is answered 429 with Retry-After past the limit", async () => {
    const ip = "192.0.2.99";
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => lookup(t.app, `probe${i}@acme.test`, ip)),
    );
    const limited = answers.filter((r) => r.statusCode === 429);
    expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(LIMITS.lookupPerIp.max);
    expect(limited).toHaveLength(40 - LIMITS.lookupPerIp.max);
    expect(limited[0]!.json().error.code).toBe("rate_limited");
    expect(Number(limited[0]!.headers["retry-after"])).toBeGreaterThan(0);
    // Another address is not affected; after the window this one is answered again.
    expect((await lookup(t.app, "known@acme.test", "192.0.2.100")).statusCode).toBe(200);
    t.clock.advance(LIMITS.lookupPerIp.windowSeconds * 1000);
    expect((await lookup(t.app, "known@acme.test", ip)).statusCode).toBe(200);
  });
});
