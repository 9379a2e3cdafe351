// Prepared statements on both storages (src/db/prepared.ts, src/db/pglite-dialect.ts): DML runs as
// named statements parsed once per session, with the same results, types and errors as before.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { isUniqueViolation, openDatabase } from "../../src/db/database.js";
import { STATEMENT_LIMIT, StatementNames } from "../../src/db/prepared.js";
import { openTestDatabase, storages, type TestDatabase } from "../support/db.js";

describe("StatementNames", () => {
  it("names plain DML only, one name per text", () => {
    const names = new StatementNames();
    const a = names.nameOf("select 1 where $1 = $2");
    expect(a).toMatch(/^copilot_\d+$/);
    expect(names.nameOf("select 1 where $1 = $2")).toBe(a);
    expect(names.nameOf("  WITH x as (select 1) insert into t select * from x")).not.toBe(a);
    for (const text of ["insert into t values ($1)", "update t set a = $1", "delete from t"]) {
      expect(names.nameOf(text), text).toMatch(/^copilot_/);
    }
    for (const text of ["begin", "commit", "rollback", "create table t (a int)", "set x = 1", "selection"]) {
      expect(names.nameOf(text), text).toBeNull();
    }
  });

  it("stops naming new texts at its limit, and keeps the names it gave", () => {
    const names = new StatementNames(3);
    const first = names.nameOf("select 1");
    names.nameOf("select 2");
    names.nameOf("select 3");
    expect(names.nameOf("select 4")).toBeNull();
    expect(names.nameOf("select 1")).toBe(first);
    expect(names.size).toBe(3);
    expect(STATEMENT_LIMIT).toBeGreaterThanOrEqual(100);
  });
});

describe("DATABASE_PREPARED_STATEMENTS", () => {
  const base = { NODE_ENV: "test", DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "copilot-config-")) };
  afterAll(() => rmSync(base.DATA_DIR, { recursive: true, force: true }));
  it("defaults to on, takes true or false, and names itself when wrong", () => {
    expect(loadConfig(base).databasePreparedStatements).toBe(true);
    expect(loadConfig({ ...base, DATABASE_PREPARED_STATEMENTS: "false" }).databasePreparedStatements).toBe(
      false,
    );
    expect(loadConfig({ ...base, DATABASE_PREPARED_STATEMENTS: "TRUE" }).databasePreparedStatements).toBe(
      true,
    );
    expect(() => loadConfig({ ...base, DATABASE_PREPARED_STATEMENTS: "sometimes" })).toThrow(
      expect.objectContaining({
        problems: [expect.stringContaining("DATABASE_PREPARED_STATEMENTS must be true or false")],
      }),
    );
  });
});

describe.each(storages())("prepared statements (%s)", (storage) => {
  let db: TestDatabase;
  let agencyId: string;

  beforeAll(async () => {
    db = await openTestDatabase(storage);
    agencyId = randomUUID();
    await db.db
      .insertInto("agencies")
      .values({
        id: agencyId,
        name: "Prepared",
        slug: `prep-${agencyId.slice(0, 8)}`,
        plan: "pro",
        domain: null,
      })
      .execute();
  });
  afterAll(async () => {
    await db?.close();
  });

  const insertUser = (email: string, extra: { created_at?: Date } = {}) =>
    db.db
      .insertInto("users")
      .values({
        id: randomUUID(),
        agency_id: agencyId,
        email,
        name: email,
        role: "analyst",
        active: true,
        ...extra,
      })
      .returning(["id", "email", "role", "active", "created_at"])
      .executeTakeFirstOrThrow();

  it("parses a statement once per session and runs it again by name, with the same results", async () => {
    const made = await insertUser("ada@prep.test", { created_at: new Date("2026-01-02T03:04:05.678Z") });
    expect(made.created_at).toBeInstanceOf(Date);
    expect(made.created_at.toISOString()).toBe("2026-01-02T03:04:05.678Z");
    expect(made.active).toBe(true);

    await db.db.connection().execute(async (conn) => {
      const find = (email: string | null) =>
        conn
          .selectFrom("users")
          .select(["email", "active", "created_at"])
          .where("agency_id", "=", agencyId)
          .where("email", "=", email as string)
          .executeTakeFirst();
      for (let i = 0; i < 3; i++) {
        const row = await find("ada@prep.test");
        expect(row?.active).toBe(true);
        expect(row?.created_at.toISOString()).toBe("2026-01-02T03:04:05.678Z");
      }
      expect(await find(null)).toBeUndefined();
      const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(
        conn,
      );
      const text = conn
        .selectFrom("users")
        .select(["email", "active", "created_at"])
        .where("agency_id", "=", agencyId)
        .where("email", "=", "x")
        .compile().sql;
      expect(rows.filter((r) => r.statement === text)).toHaveLength(1);
      // Transaction control is not prepared.
      expect(rows.some((r) => /^\s*(begin|commit)/i.test(r.statement))).toBe(false);
    });
  });

  it("keeps JSON, booleans, nulls and numbers as they were", async () => {
    const id = randomUUID();
    await db.db
      .insertInto("audit_log")
      .values({
        agency_id: agencyId,
        action: "test.prepared",
        outcome: "success",
        actor_type: "system",
        actor_id: null,
        actor_label: null,
        target_type: null,
        target_id: null,
        ip: null,
        details: JSON.stringify({ nested: { n: 1.5, ok: false, list: ["a", null] }, id }),
      })
      .execute();
    const row = await db.db
      .selectFrom("audit_log")
      .select(["details", "actor_id", "id", "at"])
      .where("agency_id", "=", agencyId)
      .where("action", "=", "test.prepared")
      .executeTakeFirstOrThrow();
    expect(row.details).toEqual({ nested: { n: 1.5, ok: false, list: ["a", null] }, id });
    expect(row.actor_id).toBeNull();
    expect(typeof row.id).toBe("number");
    expect(row.at).toBeInstanceOf(Date);
    const counted = await db.db
      .selectFrom("audit_log")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("agency_id", "=", agencyId)
      .executeTakeFirstOrThrow();
    expect(Number(counted.n)).toBe(1);
  });

  it("reports a unique violation with its code and constraint, and the session goes on", async () => {
    await insertUser("twice@prep.test");
    let error: unknown;
    try {
      await insertUser("twice@prep.test");
    } catch (e) {
      error = e;
    }
    expect(isUniqueViolation(error)).toBe(true);
    const again = await insertUser("after@prep.test");
    expect(again.email).toBe("after@prep.test");
  });

  it("does not keep a statement that failed to parse", async () => {
    const broken = sql`select no_such_column from users where id = ${randomUUID()}`;
    await expect(broken.execute(db.db)).rejects.toThrow(/no_such_column/);
    await expect(broken.execute(db.db)).rejects.toThrow(/no_such_column/);
    const ok = await sql<{ n: number }>`select 1 + ${1}::int as n`.execute(db.db);
    expect(ok.rows[0]?.n).toBe(2);
  });

  it.runIf(storage === "postgres")(
    "prepares nothing on a server when DATABASE_PREPARED_STATEMENTS=false (a pooler in transaction mode)",
    async () => {
      const plain = await openDatabase({
        databaseUrl: db.url,
        dataDir: db.dataDir,
        migrate: false,
        preparedStatements: false,
      });
      try {
        await plain.db.connection().execute(async (conn) => {
          const found = await conn
            .selectFrom("users")
            .select("id")
            .where("agency_id", "=", agencyId)
            .execute();
          expect(found.length).toBeGreaterThan(0);
          const { rows } = await sql<{
            n: string;
          }>`select count(*)::text as n from pg_prepared_statements`.execute(conn);
          expect(rows[0]?.n).toBe("0");
        });
      } finally {
        await plain.close();
      }
    },
  );

  it("rolls back prepared writes with their transaction", async () => {
    await expect(
      db.db.transaction().execute(async (tx) => {
        await tx
          .insertInto("users")
          .values({
            id: randomUUID(),
            agency_id: agencyId,
            email: "gone@prep.test",
            name: "Gone",
            role: "analyst",
            active: true,
          })
          .execute();
        throw new Error("undo");
      }),
    ).rejects.toThrow("undo");
    const found = await db.db
      .selectFrom("users")
      .select("id")
      .where("agency_id", "=", agencyId)
      .where("email", "=", "gone@prep.test")
      .executeTakeFirst();
    expect(found).toBeUndefined();
  });
});
