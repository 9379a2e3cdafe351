// The provisioning API (SPEC §8) and the integration tokens behind it: every status code, scopes,
// cross-agency isolation, revocation, validation naming the field, the rate limit, last use, audit.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { createContext } from "../../src/context.js";
import { sha256Hex } from "../../src/crypto/tokens.js";
import { RATE_LIMIT } from "../../src/provisioning/routes.js";
import { Client, createTestApp, TEST_PASSWORD, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";
import { agencyWithAdmin, auditRows, type CreatedToken, errorOf, Script } from "./helpers.js";

type ApiUser = {
  id: string;
  email: string;
  name: string;
  role: string;
  externalUserId: string | null;
  platformLanguage: string;
  subAccountIds: string[];
  active: boolean;
  hasPassword: boolean;
};

describe.each(storages())("provisioning API (%s)", (storage) => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof agencyWithAdmin>>;
  let b: Awaited<ReturnType<typeof agencyWithAdmin>>;
  let writer: CreatedToken;
  let reader: CreatedToken;
  let bWriter: CreatedToken;
  let w: Script;
  let r: Script;
  let bw: Script;

  beforeAll(async () => {
    t = await createTestApp(storage);
    a = await agencyWithAdmin(t, "acme");
    b = await agencyWithAdmin(t, "globex");
    writer = await a.createToken("HR sync", ["users.write"]);
    reader = await a.createToken("Reporting", ["users.readonly"]);
    bWriter = await b.createToken("HR sync", ["users.readonly", "users.write"]);
    w = new Script(t, writer.secret);
    r = new Script(t, reader.secret);
    bw = new Script(t, bWriter.secret);
  });
  afterAll(async () => {
    await t?.close();
  });

  describe("integration tokens (admin API)", () => {
    it("creates a token shown once, stored only as a hash, with a recognisable prefix", async () => {
      expect(writer.secret).toMatch(/^pit_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(writer.secret.slice(4), "base64url")).toHaveLength(32);
      expect(writer.prefix).toBe(writer.secret.slice(0, 12));
      expect(writer.scopes).toEqual(["users.write"]);
      const row = await t.ctx.db
        .selectFrom("integration_tokens")
        .selectAll()
        .where("id", "=", writer.id)
        .executeTakeFirstOrThrow();
      expect(row.token_hash).toBe(sha256Hex(writer.secret));
      expect(JSON.stringify(row)).not.toContain(writer.secret.slice(4));
      expect(row.created_by).toBe(a.adminUser.id);

      const list = await a.admin.get("/api/admin/tokens");
      expect(list.statusCode).toBe(200);
      expect(list.body).not.toContain(writer.secret);
      const tokens = list.json().tokens as Array<Record<string, unknown>>;
      expect(tokens.map((x) => x.name).sort()).toEqual(["HR sync", "Reporting"]);
      const listed = tokens.find((x) => x.id === writer.id)!;
      expect(Object.keys(listed).sort()).toEqual(
        ["createdAt", "createdBy", "id", "lastUsedAt", "name", "prefix", "revokedAt", "scopes"].sort(),
      );
      expect(listed.createdBy).toEqual({ id: a.adminUser.id, email: a.adminUser.email });
      expect(listed.revokedAt).toBeNull();

      const [entry] = await auditRows(t, a.agency.id, "token.create");
      expect(entry!.actor_type).toBe("user");
      expect(entry!.actor_id).toBe(a.adminUser.id);
      const created = await auditRows(t, a.agency.id, "token.create");
      for (const e of created) {
        expect(JSON.stringify(e)).not.toMatch(/pit_[A-Za-z0-9_-]{43}/);
      }
    });

    it("refuses invalid token input with 422 naming the field, and a duplicate active name with 409", async () => {
      expect(errorOf(await a.admin.post("/api/admin/tokens", { name: "x", scopes: [] }), 422).field).toBe(
        "scopes",
      );
      expect(
        errorOf(await a.admin.post("/api/admin/tokens", { name: "x", scopes: ["users.admin"] }), 422).field,
      ).toMatch(/^scopes/);
      expect(errorOf(await a.admin.post("/api/admin/tokens", { scopes: ["users.write"] }), 422).field).toBe(
        "name",
      );
      expect(
        errorOf(await a.admin.post("/api/admin/tokens", { name: "   ", scopes: ["users.write"] }), 422).field,
      ).toBe("name");
      expect(
        errorOf(
          await a.admin.post("/api/admin/tokens", { name: "x", scopes: ["users.write"], owner: "me" }),
          422,
        ).field,
      ).toBe("owner");
      const dup = errorOf(
        await a.admin.post("/api/admin/tokens", { name: "hr SYNC", scopes: ["users.write"] }),
        409,
      );
      expect(dup.code).toBe("name_taken");
      expect(dup.field).toBe("name");
    });

    it("is for agency admins only: 401 without a session, 403 for an analyst or a foreign Origin", async () => {
      const anonymous = new Client(t.app, a.host);
      expect((await anonymous.get("/api/admin/tokens")).statusCode).toBe(401);
      const analyst = await t.seedUser(a.agency.id, { role: "analyst", subAccountIds: [a.subAccountId] });
      const c = new Client(t.app, a.host);
      expect((await c.login(analyst.email, TEST_PASSWORD)).statusCode).toBe(200);
      expect((await c.get("/api/admin/tokens")).statusCode).toBe(403);
      expect(
        (await c.post("/api/admin/tokens", { name: "sneaky", scopes: ["users.write"] })).statusCode,
      ).toBe(403);
      const crossSite = await a.admin.post(
        "/api/admin/tokens",
        { name: "csrf", scopes: ["users.write"] },
        { origin: "http://evil.test" },
      );
      expect(crossSite.statusCode).toBe(403);
      // A token is not a session: it cannot manage tokens.
      expect((await new Script(t, writer.secret, a.host).get("/api/admin/tokens")).statusCode).toBe(401);
    });

    it("revokes a token at once (idempotent, audited once); another agency's token is 404", async () => {
      const temp = await a.createToken("Temporary", ["users.readonly"]);
      const s = new Script(t, temp.secret);
      expect((await s.get("/api/v1/users")).statusCode).toBe(200);
      expect((await b.admin.delete(`/api/admin/tokens/${temp.id}`)).statusCode).toBe(404);
      const revoked = await a.admin.delete(`/api/admin/tokens/${temp.id}`);
      expect(revoked.statusCode).toBe(200);
      const revokedAt = revoked.json().token.revokedAt as string;
      expect(revokedAt).toBeTruthy();
      const again = await a.admin.delete(`/api/admin/tokens/${temp.id}`);
      expect(again.statusCode).toBe(200);
      expect(again.json().token.revokedAt).toBe(revokedAt);
      expect(
        (await auditRows(t, a.agency.id, "token.revoke")).filter((e) => e.target_id === temp.id),
      ).toHaveLength(1);
      expect((await a.admin.delete("/api/admin/tokens/no-such-token")).statusCode).toBe(404);

      const refused = await s.get("/api/v1/users");
      const error = errorOf(refused, 401);
      expect(error.code).toBe("invalid_token");
      expect(error.message).toMatch(/revoked/);
      expect(refused.headers["www-authenticate"]).toMatch(/^Bearer realm="[^"]+", error="invalid_token"/);
      // The name of a revoked token is free again.
      await a.createToken("Temporary", ["users.readonly"]);
    });
  });

  describe("authentication (401) and scopes (403)", () => {
    it("401 without a token, with a malformed, unknown or session-only credential", async () => {
      const none = await new Script(t, null).get("/api/v1/users");
      expect(errorOf(none, 401).code).toBe("unauthorized");
      expect(none.headers["www-authenticate"]).toMatch(/^Bearer realm="[^"]+"$/);

      for (const bad of ["nope", `pit_${"A".repeat(43)}`, `${writer.secret}x`, writer.secret.toUpperCase()]) {
        const res = await new Script(t, bad).get("/api/v1/users");
        expect(errorOf(res, 401).code).toBe("invalid_token");
        expect(res.headers["www-authenticate"]).toContain('error="invalid_token"');
      }
      const basic = await new Script(t, null).call("GET", "/api/v1/users", undefined, {
        authorization: `Basic ${Buffer.from(`x:${writer.secret}`).toString("base64")}`,
      });
      expect(basic.statusCode).toBe(401);
      // An admin's session cookie is not a token.
      const cookie = [...a.admin.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
      const withCookie = await new Script(t, null, a.host).call("GET", "/api/v1/users", undefined, {
        cookie,
      });
      expect(withCookie.statusCode).toBe(401);
    });

    it("403 for writes with users.readonly (before input validation), and it is audited", async () => {
      const created = await w.post("/api/v1/users", { email: "scoped@acme.test" });
      expect(created.statusCode).toBe(201);
      const id = created.json().user.id as string;
      expect((await r.get(`/api/v1/users/${id}`)).statusCode).toBe(200);
      expect((await r.get("/api/v1/users?email=scoped@acme.test")).statusCode).toBe(200);

      const post = await r.post("/api/v1/users", { email: "nope@acme.test" });
      expect(errorOf(post, 403).code).toBe("insufficient_scope");
      expect(post.headers["www-authenticate"]).toContain('error="insufficient_scope", scope="users.write"');
      expect((await r.post("/api/v1/users", { email: "not an email", bogus: 1 })).statusCode).toBe(403);
      expect((await r.put(`/api/v1/users/${id}`, { name: "Changed" })).statusCode).toBe(403);
      expect((await r.delete(`/api/v1/users/${id}`)).statusCode).toBe(403);
      const user = await w.get(`/api/v1/users/${id}`); // users.write implies users.readonly
      expect(user.statusCode).toBe(200);
      expect(user.json().user).toMatchObject({ name: "scoped", active: true });

      const [denied] = await auditRows(t, a.agency.id, "user.deactivate");
      expect(denied).toMatchObject({
        outcome: "failure",
        actor_type: "token",
        actor_id: reader.id,
        actor_label: "Reporting",
      });
      expect(denied!.details).toMatchObject({ status: 403, error: "insufficient_scope", via: "api" });
    });
  });

  describe("users", () => {
    let created: ApiUser;

    it("creates a user with every §8 field (201), audited with the token's name", async () => {
      const res = await w.post("/api/v1/users", {
        email: "Jane.Doe@Acme.test",
        name: "Jane Doe",
        role: "analyst",
        externalUserId: "00u1jane",
        platformLanguage: "de-de",
        subAccountIds: [a.subAccountId],
        password: "a long enough password",
      });
      expect(res.statusCode, res.body).toBe(201);
      created = res.json().user;
      expect(created).toMatchObject({
        email: "Jane.Doe@Acme.test",
        name: "Jane Doe",
        role: "analyst",
        externalUserId: "00u1jane",
        platformLanguage: "de-DE",
        subAccountIds: [a.subAccountId],
        active: true,
        hasPassword: true,
      });
      expect(res.body).not.toContain("a long enough password");
      const signIn = await new Client(t.app, a.host).login("jane.doe@acme.test", "a long enough password");
      expect(signIn.statusCode).toBe(200);

      const [entry] = await auditRows(t, a.agency.id, "user.create");
      expect(entry).toMatchObject({
        outcome: "success",
        actor_type: "token",
        actor_id: writer.id,
        actor_label: "HR sync",
        target_type: "user",
        target_id: created.id,
      });
      expect(entry!.details).toMatchObject({ via: "api", externalUserId: "00u1jane" });
      expect(JSON.stringify(entry)).not.toContain("a long enough password");
    });

    it("409 for a taken email or externalUserId, naming the field and the existing user", async () => {
      const email = errorOf(await w.post("/api/v1/users", { email: "JANE.DOE@acme.test" }), 409);
      expect(email).toMatchObject({ code: "email_taken", field: "email", existingUserId: created.id });
      const ext = errorOf(
        await w.post("/api/v1/users", { email: "someone.else@acme.test", externalUserId: "00u1jane" }),
        409,
      );
      expect(ext).toMatchObject({
        code: "external_user_id_taken",
        field: "externalUserId",
        existingUserId: created.id,
      });
      // A sync job recovers by updating the existing user.
      const recovered = await w.put(`/api/v1/users/${ext.existingUserId}`, { name: "Jane D." });
      expect(recovered.statusCode).toBe(200);
      const [failure] = (await auditRows(t, a.agency.id, "user.create")).filter(
        (e) => e.outcome === "failure",
      );
      expect(failure!.details).toMatchObject({
        status: 409,
        error: "external_user_id_taken",
        field: "externalUserId",
      });
      // The same email in another agency is a different person.
      expect(
        (await bw.post("/api/v1/users", { email: "jane.doe@acme.test", externalUserId: "00u1jane" }))
          .statusCode,
      ).toBe(201);
    });

    it("422 for invalid input, naming the field", async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ name: "No Email" }, "email"],
        [{ email: "not-an-email" }, "email"],
        [{ email: "x@acme.test", platformLanguage: "not a language!" }, "platformLanguage"],
        [{ email: "x@acme.test", platformLanguage: "" }, "platformLanguage"],
        [{ email: "x@acme.test", role: "owner" }, "role"],
        [{ email: "x@acme.test", subAccountIds: ["no-such-sub-account"] }, "subAccountIds"],
        [{ email: "x@acme.test", subAccountIds: [b.subAccountId] }, "subAccountIds"],
        [{ email: "x@acme.test", password: "short" }, "password"],
        [{ email: "x@acme.test", name: "" }, "name"],
        [{ email: "x@acme.test", externalUserId: "x".repeat(513) }, "externalUserId"],
        [{ email: "x@acme.test", admin: true }, "admin"],
      ];
      for (const [body, field] of cases) {
        const error = errorOf(await w.post("/api/v1/users", body), 422);
        expect(error.code, JSON.stringify(body)).toBe("invalid_input");
        expect(error.field, JSON.stringify(body)).toBe(field);
        expect(error.message, JSON.stringify(body)).toContain(field);
      }
      expect(
        errorOf(await w.put(`/api/v1/users/${created.id}`, { platformLanguage: "en_US!" }), 422).field,
      ).toBe("platformLanguage");
      expect(errorOf(await w.put(`/api/v1/users/${created.id}`, { email: "" }), 422).field).toBe("email");
      expect(errorOf(await w.get("/api/v1/users?emial=jane.doe@acme.test"), 422).field).toBe("emial");
      expect(errorOf(await w.get("/api/v1/users?email="), 422).field).toBe("email");
      expect(
        (await t.ctx.db.selectFrom("users").select("id").where("email", "=", "x@acme.test").execute()).length,
      ).toBe(0);
    });

    it("gets a user; 404 for an unknown id", async () => {
      const res = await r.get(`/api/v1/users/${created.id}`);
      expect(res.statusCode).toBe(200);
      expect(res.json().user.id).toBe(created.id);
      expect(errorOf(await r.get("/api/v1/users/00000000-0000-4000-8000-000000000000"), 404).code).toBe(
        "not_found",
      );
    });

    it("finds users by email (case-insensitive) or externalUserId, or lists them", async () => {
      const byEmail = await r.get("/api/v1/users?email=JANE.DOE%40ACME.TEST");
      expect(byEmail.statusCode).toBe(200);
      expect(byEmail.json().users.map((u: ApiUser) => u.id)).toEqual([created.id]);
      const byExt = await r.get("/api/v1/users?externalUserId=00u1jane");
      expect(byExt.json().users.map((u: ApiUser) => u.id)).toEqual([created.id]);
      const both = await r.get("/api/v1/users?externalUserId=00u1jane&email=other%40acme.test");
      expect(both.json().users).toEqual([]);
      const none = await r.get("/api/v1/users?externalUserId=nobody");
      expect(none.statusCode).toBe(200);
      expect(none.json()).toMatchObject({ users: [], total: 0 });
      const all = await r.get("/api/v1/users?pageSize=2");
      expect(all.json().users).toHaveLength(2);
      expect(all.json().total).toBeGreaterThanOrEqual(3);
      expect(all.json()).toMatchObject({ page: 1, pageSize: 2 });
    });

    it("updates every §8 field, including externalUserId and platformLanguage", async () => {
      const sub2 = await t.seedSubAccount(a.agency.id, "Second");
      const res = await w.put(`/api/v1/users/${created.id}`, {
        email: "jane@acme.test",
        name: "Jane Q. Doe",
        role: "admin",
        externalUserId: "00u2jane",
        platformLanguage: "fr-ca",
        subAccountIds: [sub2, a.subAccountId],
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().user).toMatchObject({
        email: "jane@acme.test",
        name: "Jane Q. Doe",
        role: "admin",
        externalUserId: "00u2jane",
        platformLanguage: "fr-CA",
        subAccountIds: [sub2, a.subAccountId].sort(),
      });
      const [entry] = (await auditRows(t, a.agency.id, "user.update")).filter((e) => e.outcome === "success");
      expect(entry).toMatchObject({ actor_type: "token", actor_label: "HR sync", target_id: created.id });
      expect(entry!.details.changed).toEqual(
        expect.arrayContaining(["email", "name", "role", "external_user_id", "platform_language"]),
      );
      const cleared = await w.put(`/api/v1/users/${created.id}`, { externalUserId: null });
      expect(cleared.json().user.externalUserId).toBeNull();
      await w.put(`/api/v1/users/${created.id}`, { externalUserId: "00u2jane" });

      const other = (await w.post("/api/v1/users", { email: "taken@acme.test" })).json().user as ApiUser;
      const conflict = errorOf(await w.put(`/api/v1/users/${created.id}`, { email: "TAKEN@acme.test" }), 409);
      expect(conflict).toMatchObject({ code: "email_taken", field: "email", existingUserId: other.id });
      expect(
        errorOf(await w.put("/api/v1/users/00000000-0000-4000-8000-000000000000", { name: "X" }), 404).code,
      ).toBe("not_found");
    });

    it("a new password ends the user's sessions", async () => {
      const c = new Client(t.app, a.host);
      expect((await c.login("jane@acme.test", "a long enough password")).statusCode).toBe(200);
      expect((await c.get("/api/auth/me")).statusCode).toBe(200);
      const res = await w.put(`/api/v1/users/${created.id}`, { password: "another long password" });
      expect(res.statusCode).toBe(200);
      expect((await c.get("/api/auth/me")).statusCode).toBe(401);
      const [entry] = (await auditRows(t, a.agency.id, "user.update")).filter((e) => e.outcome === "success");
      expect(entry!.details.changed).toEqual(["password"]);
      expect(JSON.stringify(entry)).not.toContain("another long password");
    });

    it("deactivates a user (ends their sessions, idempotent) and reactivates with active: true", async () => {
      const c = new Client(t.app, a.host);
      expect((await c.login("jane@acme.test", "another long password")).statusCode).toBe(200);
      const res = await w.delete(`/api/v1/users/${created.id}`);
      expect(res.statusCode).toBe(200);
      expect(res.json().user.active).toBe(false);
      expect((await c.get("/api/auth/me")).statusCode).toBe(401);
      expect((await c.login("jane@acme.test", "another long password")).statusCode).not.toBe(200);
      expect((await w.delete(`/api/v1/users/${created.id}`)).statusCode).toBe(200);
      const [entry] = (await auditRows(t, a.agency.id, "user.deactivate")).filter(
        (e) => e.outcome === "success",
      );
      expect(entry).toMatchObject({ actor_type: "token", actor_id: writer.id, target_id: created.id });
      expect(errorOf(await w.delete("/api/v1/users/00000000-0000-4000-8000-000000000000"), 404).code).toBe(
        "not_found",
      );

      const back = await w.put(`/api/v1/users/${created.id}`, { active: true });
      expect(back.json().user.active).toBe(true);
      expect((await c.login("jane@acme.test", "another long password")).statusCode).toBe(200);
    });

    it("does not audit reads", async () => {
      const before = await t.ctx.db
        .selectFrom("audit_log")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      await r.get(`/api/v1/users/${created.id}`);
      await r.get("/api/v1/users?email=jane%40acme.test");
      const after = await t.ctx.db
        .selectFrom("audit_log")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));
    });
  });

  describe("cross-agency isolation", () => {
    it("a token of agency A never sees or touches agency B's users (404), whatever the Host", async () => {
      const bUser = (
        await bw.post("/api/v1/users", { email: "bob@globex.test", externalUserId: "bob-1" })
      ).json().user as ApiUser;
      const aOnBHost = new Script(t, writer.secret, b.host);
      for (const s of [w, aOnBHost, r]) {
        expect(errorOf(await s.get(`/api/v1/users/${bUser.id}`), 404).code).toBe("not_found");
        expect((await s.get("/api/v1/users?email=bob%40globex.test")).json().users).toEqual([]);
        expect((await s.get("/api/v1/users?externalUserId=bob-1")).json().users).toEqual([]);
      }
      expect(errorOf(await w.put(`/api/v1/users/${bUser.id}`, { name: "Hijacked" }), 404).code).toBe(
        "not_found",
      );
      expect(errorOf(await aOnBHost.delete(`/api/v1/users/${bUser.id}`), 404).code).toBe("not_found");
      const still = await bw.get(`/api/v1/users/${bUser.id}`);
      expect(still.json().user).toMatchObject({ name: "bob", active: true });
      // Created on B's host with A's token: the user is A's.
      const made = await aOnBHost.post("/api/v1/users", { email: "host-ignored@acme.test" });
      expect(made.statusCode).toBe(201);
      expect((await bw.get(`/api/v1/users/${made.json().user.id}`)).statusCode).toBe(404);
      // A's listing never includes B's users.
      const all = (await r.get("/api/v1/users?pageSize=200")).json().users as ApiUser[];
      expect(all.some((u) => u.id === bUser.id)).toBe(false);
    });
  });

  describe("last use and rate limit", () => {
    it("records the last use, writing it at most once a minute", async () => {
      const token = await a.createToken("Last use probe", ["users.readonly"]);
      const lastUsed = async () =>
        (
          await t.ctx.db
            .selectFrom("integration_tokens")
            .select("last_used_at")
            .where("id", "=", token.id)
            .executeTakeFirstOrThrow()
        ).last_used_at;
      expect(await lastUsed()).toBeNull();
      const s = new Script(t, token.secret);
      await s.get("/api/v1/users");
      const first = await lastUsed();
      expect(first).toBeInstanceOf(Date);
      t.clock.advance(30_000);
      await s.get("/api/v1/users");
      expect((await lastUsed())!.getTime()).toBe(first!.getTime());
      t.clock.advance(31_000);
      await s.get("/api/v1/users");
      const second = await lastUsed();
      expect(second!.getTime()).toBeGreaterThan(first!.getTime() + 60_000);
      const listed = (await a.admin.get("/api/admin/tokens"))
        .json()
        .tokens.find((x: { id: string }) => x.id === token.id);
      expect(listed.lastUsedAt).toBe(second!.toISOString());
    });

    it(`answers 429 with Retry-After past ${RATE_LIMIT.max} requests a minute per token`, async () => {
      const token = await a.createToken("Rate probe", ["users.readonly"]);
      const s = new Script(t, token.secret);
      const first = await s.get("/api/v1/users?pageSize=1");
      expect(first.statusCode).toBe(200);
      expect(first.headers["x-ratelimit-limit"]).toBe(String(RATE_LIMIT.max));
      for (let sent = 1; sent < RATE_LIMIT.max; sent += 50) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(50, RATE_LIMIT.max - sent) }, () =>
            s.get("/api/v1/users?pageSize=1"),
          ),
        );
        expect(batch.every((res) => res.statusCode === 200)).toBe(true);
      }
      const limited = await s.get("/api/v1/users?pageSize=1");
      expect(errorOf(limited, 429).code).toBe("rate_limited");
      expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
      expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(60);
      // Counted in the database: another node (app instance) on the same database refuses it too.
      const node2 = await buildApp(createContext(t.ctx.config, t.ctx.db, { now: t.clock.now }));
      try {
        const elsewhere = await node2.inject({
          method: "GET",
          url: "/api/v1/users?pageSize=1",
          headers: { authorization: `Bearer ${token.secret}` },
        });
        expect(elsewhere.statusCode).toBe(429);
      } finally {
        await node2.close();
      }
      // The limit is the token's, not the IP's: another token from the same address goes on.
      const other = new Script(t, reader.secret, undefined, s.ip);
      expect((await other.get("/api/v1/users?pageSize=1")).statusCode).toBe(200);
    }, 60_000);
  });
});
