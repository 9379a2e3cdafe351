// Control characters and absurd numbers (issue 14 item 4): one validation rule for every route's
// body, querystring and params. A NUL byte (which PostgreSQL's text type refuses) or another C0
// control, an infinite number or an integer past 2^53 is a 422 naming the field, never a 500.
import { describe, expect, it } from "vitest";
import { unsafeValue } from "../../src/http/validation.js";
import { errorOf, useAgencyWithScript } from "../provisioning/helpers.js";
import { Client } from "../support/app.js";
import { storages } from "../support/db.js";

describe.each(storages())("control characters and unsafe numbers in input (%s)", (storage) => {
  const w = useAgencyWithScript(storage);

  it("refuses a NUL byte in the anonymous sign-in's email with 422 naming the field", async () => {
    const res = await new Client(w.t.app, w.a.host).login("ad\u0000min@acme.test", "whatever");
    const error = errorOf(res, 422);
    expect(error).toMatchObject({ code: "invalid_input", field: "email" });
    expect(error.message).toBe("email must not contain control characters");
  });

  it("refuses other C0 controls, but not tab, newline or carriage return", async () => {
    for (const c of ["\u0001", "\u0008", "\u000b", "\u001b", "\u001f"]) {
      const res = await new Client(w.t.app, w.a.host).login("admin@acme.test", `pass${c}word`);
      expect(errorOf(res, 422).field).toBe("password");
    }
    for (const c of ["\t", "\n", "\r"]) {
      const res = await new Client(w.t.app, w.a.host).login("admin@acme.test", `pass${c}word`);
      expect(res.statusCode, res.body).toBe(401);
    }
  });

  it("refuses a NUL byte in a provisioning body, nested or not, and stores nothing", async () => {
    const res = await w.script.post("/api/v1/users", { email: "nul@acme.test", name: "Ann\u0000Lee" });
    expect(errorOf(res, 422)).toMatchObject({ code: "invalid_input", field: "name" });
    const nested = await w.script.post("/api/v1/users", {
      email: "nul@acme.test",
      subAccountIds: ["x\u0000"],
    });
    expect(errorOf(nested, 422).field).toBe("subAccountIds.0");
    const rows = await w.t.ctx.db.selectFrom("users").select("id").where("email", "like", "nul@%").execute();
    expect(rows).toHaveLength(0);
  });

  it("refuses a NUL byte in a property name of a body", async () => {
    const raw = await w.t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      remoteAddress: w.script.ip,
      headers: {
        host: w.script.host,
        authorization: `Bearer ${w.script.secret}`,
        "content-type": "application/json",
      },
      payload: '{"email":"x@acme.test","a\\u0000b":1}',
    });
    expect(errorOf(raw, 422).code).toBe("invalid_input");
  });

  it("refuses a NUL byte in a query and in a path parameter", async () => {
    expect(errorOf(await w.a.admin.get("/api/admin/users?q=a%00b"), 422).field).toBe("q");
    expect(errorOf(await w.a.admin.get("/api/admin/users/a%00b"), 422).field).toBe("id");
    expect(errorOf(await w.script.get("/api/v1/users?email=a%00@acme.test"), 422).field).toBe("email");
  });

  it("refuses page=1e400 and integers past 2^53 in querystrings", async () => {
    for (const page of ["1e400", "9007199254740993", "1e16", "-1e400"]) {
      const res = await w.a.admin.get(`/api/admin/users?page=${page}`);
      expect(errorOf(res, 422), page).toMatchObject({ code: "invalid_input", field: "page" });
      const api = await w.script.get(`/api/v1/users?page=${page}`);
      expect(errorOf(api, 422).field).toBe("page");
    }
    expect((await w.a.admin.get("/api/admin/users?page=9007199254740991")).statusCode).toBe(200);
  });
});

describe("the rule itself", () => {
  it("names the first refused value by its JSON pointer, and lets ordinary values through", () => {
    expect(unsafeValue({ a: [1, "ok", { b: "x\u0000" }] })?.instancePath).toBe("/a/2/b");
    expect(unsafeValue({ "a/b": Number.POSITIVE_INFINITY })?.instancePath).toBe("/a~1b");
    expect(unsafeValue({ n: Number.NaN })?.keyword).toBe("safeNumber");
    expect(unsafeValue({ n: 2 ** 53 })?.keyword).toBe("safeNumber");
    expect(unsafeValue({ s: "line\nnext\ttab\r", n: 1.5, m: -(2 ** 53 - 1), t: true, z: null })).toBeNull();
    expect(unsafeValue("日本 ü €")).toBeNull();
  });
});
