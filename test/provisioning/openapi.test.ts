// SPEC §8: /openapi.json describes the WHOLE HTTP API, generated from the route schemas. It must be a
// structurally valid OpenAPI 3.1 document and list every route the server registers; /docs browses it.
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { WEB_DIR } from "../../src/app.js";
import { createTestApp, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

// Every route any plugin registers, seen by an onRoute hook installed on each Fastify instance as
// it is created (buildApp registers everything itself, so the hook must be there from the start).
const seen = vi.hoisted(() => ({ routes: [] as Array<{ method: string; url: string; hidden: boolean }> }));
vi.mock("fastify", async (importOriginal) => {
  const mod = await importOriginal<typeof import("fastify")>();
  const original = mod.default as unknown as (...args: unknown[]) => import("fastify").FastifyInstance;
  const wrapped = (...args: unknown[]) => {
    const app = original(...args);
    app.addHook("onRoute", (route) => {
      const methods = [route.method].flat() as string[];
      const hidden = Boolean((route.schema as { hide?: boolean } | undefined)?.hide);
      for (const method of methods) seen.routes.push({ method, url: route.url, hidden });
    });
    return app;
  };
  return { ...mod, default: Object.assign(wrapped, original) };
});

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

// biome-ignore lint/suspicious/noExplicitAny: an arbitrary JSON document walked by the checks below
type Json = Record<string, any>;

/** Resolves a local JSON pointer (`#/components/schemas/x`) in `doc`, or undefined. */
function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith("#")) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(key in (node as Json))) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

/** Every `$ref` in the document, with where it is. */
function refsOf(node: unknown, at = "#", out: Array<{ at: string; ref: string }> = []) {
  if (Array.isArray(node)) {
    for (const [i, v] of node.entries()) refsOf(v, `${at}/${i}`, out);
  } else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") out.push({ at, ref: v });
      else refsOf(v, `${at}/${k}`, out);
    }
  }
  return out;
}

/** `/api/v1/users/:id` → `/api/v1/users/{id}` (OpenAPI path templating). */
function toOpenApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

/** Routes that are not part of the API: swagger-ui's own, and the built pages' static files. */
function isExempt(url: string): boolean {
  if (url === "/docs" || url.startsWith("/docs/")) return true;
  const file = path.join(WEB_DIR, url);
  return file.startsWith(WEB_DIR + path.sep) && existsSync(file) && statSync(file).isFile();
}

describe.each(storages())("the OpenAPI document (%s)", (storage) => {
  let t: TestApp;
  let doc: Json;

  beforeAll(async () => {
    seen.routes.length = 0;
    t = await createTestApp(storage);
    const res = await t.app.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    doc = res.json();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("is a structurally valid OpenAPI 3.1 document", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(typeof doc.info?.title).toBe("string");
    expect(typeof doc.info?.version).toBe("string");
    expect(doc.paths && typeof doc.paths).toBe("object");
    const schemes = Object.keys(doc.components?.securitySchemes ?? {});
    expect(schemes).toEqual(expect.arrayContaining(["session", "integrationToken"]));
    const operationIds = new Set<string>();
    for (const [p, item] of Object.entries(doc.paths as Record<string, Json>)) {
      expect(p.startsWith("/"), p).toBe(true);
      const templated = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const operations = METHODS.filter((m) => item[m]);
      expect(operations.length, `${p} has no operation`).toBeGreaterThan(0);
      for (const m of operations) {
        const op = item[m] as Json;
        const where = `${m.toUpperCase()} ${p}`;
        const responses = Object.entries((op.responses ?? {}) as Record<string, Json>);
        expect(responses.length, `${where} has no responses`).toBeGreaterThan(0);
        for (const [code, response] of responses) {
          expect(code, where).toMatch(/^([1-5][0-9X]{2}|default)$/);
          expect(typeof (response.description ?? resolvePointer(doc, response.$ref ?? "")), where).not.toBe(
            "undefined",
          );
        }
        if (op.operationId) {
          expect(operationIds.has(op.operationId), `duplicate operationId ${op.operationId}`).toBe(false);
          operationIds.add(op.operationId);
        }
        const params = [...((item.parameters as Json[]) ?? []), ...((op.parameters as Json[]) ?? [])];
        for (const param of params) {
          expect(["query", "header", "path", "cookie"], where).toContain(param.in);
          expect(typeof param.name, where).toBe("string");
        }
        for (const name of templated) {
          const declared = params.find((x) => x.in === "path" && x.name === name);
          expect(declared, `${where} does not declare path parameter ${name}`).toBeTruthy();
          expect(declared!.required, where).toBe(true);
        }
        for (const requirement of (op.security ?? []) as Json[]) {
          for (const scheme of Object.keys(requirement)) expect(schemes, where).toContain(scheme);
        }
        if (op.requestBody) expect(op.requestBody.content, where).toBeTruthy();
      }
    }
    const refs = refsOf(doc);
    for (const { at, ref } of refs) {
      expect(resolvePointer(doc, ref), `${ref} at ${at} does not resolve`).toBeDefined();
    }
  });

  it("lists every route the server registers (and nothing else)", () => {
    expect(seen.routes.length).toBeGreaterThan(20);
    const registered = new Set(
      seen.routes
        .filter((r) => r.method !== "HEAD" && !isExempt(r.url))
        .map((r) => `${r.method} ${toOpenApiPath(r.url)}`),
    );
    const documented = new Set(
      Object.entries(doc.paths as Record<string, Json>).flatMap(([p, item]) =>
        METHODS.filter((m) => item[m] && m !== "head").map((m) => `${m.toUpperCase()} ${p}`),
      ),
    );
    const missing = [...registered].filter((r) => !documented.has(r)).sort();
    const extra = [...documented].filter((r) => !registered.has(r)).sort();
    expect(missing, "registered but not in /openapi.json").toEqual([]);
    expect(extra, "in /openapi.json but not registered").toEqual([]);
    // Hidden routes are the exempt ones only.
    const hidden = seen.routes.filter((r) => r.hidden && !isExempt(r.url)).map((r) => `${r.method} ${r.url}`);
    expect(hidden).toEqual([]);
  });

  it("describes the provisioning API: token security, tags, every §8 status", () => {
    const v1 = [
      ["post", "/api/v1/users", ["201", "401", "403", "409", "422", "429"]],
      ["get", "/api/v1/users", ["200", "401", "403", "422", "429"]],
      ["get", "/api/v1/users/{id}", ["200", "401", "403", "404", "429"]],
      ["put", "/api/v1/users/{id}", ["200", "401", "403", "404", "409", "422", "429"]],
      ["delete", "/api/v1/users/{id}", ["200", "401", "403", "404", "429"]],
    ] as const;
    for (const [method, p, codes] of v1) {
      const op = doc.paths[p]?.[method] as Json;
      expect(op, `${method} ${p}`).toBeTruthy();
      expect(op.security).toEqual([{ integrationToken: [] }]);
      expect(op.tags).toEqual(["provisioning"]);
      expect(Object.keys(op.responses).sort()).toEqual([...codes].sort());
    }
    const put = doc.paths["/api/v1/users/{id}"].put.requestBody.content["application/json"].schema as Json;
    expect(Object.keys(put.properties)).toEqual(
      expect.arrayContaining([
        "externalUserId",
        "platformLanguage",
        "subAccountIds",
        "role",
        "email",
        "password",
      ]),
    );
    for (const [method, p] of [
      ["get", "/api/admin/tokens"],
      ["post", "/api/admin/tokens"],
      ["delete", "/api/admin/tokens/{id}"],
    ] as const) {
      const op = doc.paths[p]?.[method] as Json;
      expect(op.security).toEqual([{ session: [] }]);
      expect(op.tags).toEqual(["admin"]);
    }
  });

  it("/docs answers with the browsable HTML reference", async () => {
    let res = await t.app.inject({ method: "GET", url: "/docs" });
    if (res.statusCode === 302)
      res = await t.app.inject({ method: "GET", url: res.headers.location as string });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.body).toMatch(/swagger/i);
  });
});
