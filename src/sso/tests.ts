/**
 * Configuration tests (SPEC §7): a test is the real flow with a state of purpose `test`. It
 * records pending → passed/failed with the step that failed, the IdP's error, the NAMES of the
 * claims received (never their values) and the user the identity matched. Any configuration
 * change marks the connection's tests expired.
 */
import { randomUUID } from "node:crypto";
import type { AppContext } from "../context.js";
import type { Db } from "../db/database.js";
import type { GroupsOutcome } from "./groups.js";
import { ssoMessage } from "./messages.js";

export interface Diagnostic {
  step: string;
  idpError: string | null;
  claimNames: string[];
  detail?: string;
  /** SPEC §13: the groups received and what they would give (connections that map groups). */
  groups?: GroupsOutcome;
}

export async function createTest(
  db: Db,
  input: { connectionId: string; agencyId: string; configVersion: number; startedBy: string },
): Promise<string> {
  const id = randomUUID();
  await db
    .insertInto("sso_tests")
    .values({
      id,
      connection_id: input.connectionId,
      agency_id: input.agencyId,
      config_version: input.configVersion,
      status: "pending",
      error_code: null,
      message: null,
      diagnostic: null,
      matched_user_id: null,
      started_by: input.startedBy,
    })
    .execute();
  return id;
}

/** Records a pending test's result; returns who started it (null when it was no longer pending). */
export async function finishTest(
  ctx: AppContext,
  testId: string,
  result:
    | { passed: true; matchedUserId: string | null; diagnostic: Diagnostic }
    | { passed: false; errorCode: string; diagnostic: Diagnostic },
): Promise<string | null> {
  const row = await ctx.db
    .updateTable("sso_tests")
    .set({
      status: result.passed ? "passed" : "failed",
      error_code: result.passed ? null : result.errorCode,
      message: result.passed ? null : ssoMessage(result.errorCode),
      diagnostic: JSON.stringify(result.diagnostic),
      matched_user_id: result.passed ? result.matchedUserId : null,
      finished_at: ctx.now(),
    })
    .where("id", "=", testId)
    .where("status", "=", "pending")
    .returning("started_by")
    .executeTakeFirst();
  return row?.started_by ?? null;
}

export async function expireTests(db: Db, connectionId: string): Promise<void> {
  await db
    .updateTable("sso_tests")
    .set({ status: "expired" })
    .where("connection_id", "=", connectionId)
    .where("status", "!=", "expired")
    .execute();
}

export async function hasPassedTest(db: Db, connectionId: string, configVersion: number): Promise<boolean> {
  const row = await db
    .selectFrom("sso_tests")
    .select("id")
    .where("connection_id", "=", connectionId)
    .where("config_version", "=", configVersion)
    .where("status", "=", "passed")
    .limit(1)
    .executeTakeFirst();
  return Boolean(row);
}

const TEST_COLUMNS = [
  "sso_tests.id",
  "sso_tests.connection_id",
  "sso_tests.status",
  "sso_tests.error_code",
  "sso_tests.message",
  "sso_tests.diagnostic",
  "sso_tests.matched_user_id",
  "sso_tests.started_at",
  "sso_tests.finished_at",
  "users.id as starter_id",
  "users.email as starter_email",
] as const;

function testQuery(db: Db, agencyId: string) {
  return db
    .selectFrom("sso_tests")
    .leftJoin("users", "users.id", "sso_tests.started_by")
    .select(TEST_COLUMNS)
    .select((eb) =>
      eb
        .selectFrom("sso_traces")
        .select("sso_traces.id")
        .whereRef("sso_traces.test_id", "=", "sso_tests.id")
        .orderBy("sso_traces.created_at", "desc")
        .limit(1)
        .as("trace_id"),
    )
    .where("sso_tests.agency_id", "=", agencyId);
}

type TestRow = Awaited<ReturnType<ReturnType<typeof testQuery>["execute"]>>[number];

export function testApi(r: TestRow) {
  return {
    id: r.id,
    connectionId: r.connection_id,
    status: r.status,
    errorCode: r.error_code,
    message: r.message,
    diagnostic: (r.diagnostic as Diagnostic | null) ?? null,
    matchedUserId: r.matched_user_id,
    startedBy: r.starter_id ? { id: r.starter_id, email: r.starter_email! } : null,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at ? r.finished_at.toISOString() : null,
    traceId: r.trace_id ?? null,
  };
}

export type TestView = ReturnType<typeof testApi>;

export async function listTests(db: Db, agencyId: string, connectionId: string): Promise<TestView[]> {
  const rows = await testQuery(db, agencyId)
    .where("sso_tests.connection_id", "=", connectionId)
    .orderBy("sso_tests.started_at", "desc")
    .limit(50)
    .execute();
  return rows.map(testApi);
}

export async function getTest(db: Db, agencyId: string, testId: string): Promise<TestView | null> {
  const row = await testQuery(db, agencyId).where("sso_tests.id", "=", testId).executeTakeFirst();
  return row ? testApi(row) : null;
}

/** The newest test of each connection. */
export async function latestTests(db: Db, agencyId: string): Promise<Map<string, TestView>> {
  const rows = await testQuery(db, agencyId).orderBy("sso_tests.started_at", "desc").execute();
  const latest = new Map<string, TestView>();
  for (const r of rows) if (!latest.has(r.connection_id)) latest.set(r.connection_id, testApi(r));
  return latest;
}
