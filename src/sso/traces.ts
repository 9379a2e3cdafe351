/**
 * Connection traces (SPEC §17): every SSO attempt whose connection is known — a sign-in or a test,
 * success or failure — leaves one row: when, the kind, the step that ended it, the §4 code and the
 * precise cause, the NAMES of the claims received, the matched user, and the protocol messages,
 * already redacted by the kind that exchanged them (sso/trace-redact.ts). The row holds no IP, no
 * email and no claim value; the matched user's email is joined from `users` when an admin of the
 * agency reads it. Kept 7 days (housekeeping: {@link purgeTraces}); read only within the agency.
 *
 * The API's shapes are defined here once (TypeBox): the routes answer with them and the web pages
 * take their types from them.
 */
import { randomUUID } from "node:crypto";
import { type Static, Type } from "@sinclair/typebox";
import { sql } from "kysely";
import type { Db } from "../db/database.js";
import { badRequest } from "../http/errors.js";
import { Nullable, OneOf } from "../http/schemas.js";
import { ssoMessage } from "./messages.js";
import { redactCause } from "./trace-redact.js";

/** How long a trace is kept. */
export const TRACE_RETENTION_MS = 7 * 24 * 3_600_000;
/** A longer cause is cut (causes are written by our code, but may quote an IdP's error text). */
export const MAX_CAUSE_LENGTH = 1000;
const MAX_CLAIM_NAMES = 200;
const MAX_CLAIM_NAME_LENGTH = 200;
/** The redacted messages of one attempt, as JSON; beyond this each message keeps its name only. */
const MAX_MESSAGES_BYTES = 64 * 1024;
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 25;

/** One protocol message of an attempt, already redacted (sso/trace-redact.ts). */
export interface TraceMessage {
  /**
   * "authorization_request", "callback", "token_response", "id_token", "userinfo_response",
   * "cloudflare_assertion"; later "saml_authn_request", "saml_response".
   */
  name: string;
  /** ISO 8601. */
  at: string;
  /** Redacted JSON. */
  data: unknown;
}

export interface TraceInput {
  agencyId: string;
  connectionId: string;
  /** The connection's type (`oidc`, `azure`, `google`, `cloudflare-access`, later `saml`); default: the connection's. */
  kind?: string;
  purpose: "login" | "test";
  testId: string | null;
  outcome: "success" | "failure";
  /** The step that ended the attempt: `state`, `token`, `id_token`, `userinfo`, `mapping`, `resolution`, `policy`, `mfa`, `done`, `assertion`, … */
  step: string;
  /** The §4 error code of a failure, else null. */
  code: string | null;
  /** The precise cause (never a secret, token or code; emails and JWT-shaped text are taken out). */
  cause: string | null;
  claimNames: string[];
  userId: string | null;
  messages: TraceMessage[];
  startedAt: Date;
}

export const TraceUserSchema = Type.Object({ id: Type.String(), email: Type.String() });

export const TraceSummarySchema = Type.Object(
  {
    id: Type.String(),
    connectionId: Type.String(),
    kind: Type.String(),
    purpose: OneOf(["login", "test"]),
    outcome: OneOf(["success", "failure"]),
    step: Type.String(),
    code: Nullable(Type.String()),
    /** SPEC §4's message for the code of a failure. */
    message: Nullable(Type.String()),
    cause: Nullable(Type.String()),
    startedAt: Type.String({ format: "date-time" }),
    finishedAt: Type.String({ format: "date-time" }),
    durationMs: Type.Integer(),
    testId: Nullable(Type.String()),
    user: Nullable(TraceUserSchema),
  },
  { description: "One SSO attempt of a connection (SPEC §17)" },
);

export const TraceMessageSchema = Type.Object({
  name: Type.String(),
  at: Type.String(),
  data: Type.Unknown(),
});

export const TraceSchema = Type.Composite(
  [
    TraceSummarySchema,
    Type.Object({
      claimNames: Type.Array(Type.String()),
      messages: Type.Array(TraceMessageSchema),
    }),
  ],
  { description: "One SSO attempt with the claim names received and the redacted protocol messages" },
);

export const TracePageSchema = Type.Object({
  traces: Type.Array(TraceSummarySchema),
  /** The `before` of the next page, or null on the last one. */
  next: Nullable(Type.String()),
});

export type TraceSummary = Static<typeof TraceSummarySchema>;
export type Trace = Static<typeof TraceSchema>;
export type TracePage = Static<typeof TracePageSchema>;

function claimNamesOf(names: readonly string[]): string[] {
  const unique = new Set<string>();
  for (const n of names)
    if (typeof n === "string" && n.length > 0) unique.add(n.slice(0, MAX_CLAIM_NAME_LENGTH));
  return [...unique].sort().slice(0, MAX_CLAIM_NAMES);
}

function messagesJson(messages: readonly TraceMessage[]): string {
  const full = JSON.stringify(
    messages.map((m) => ({ name: String(m.name), at: String(m.at), data: m.data ?? null })),
  );
  if (Buffer.byteLength(full) <= MAX_MESSAGES_BYTES) return full;
  return JSON.stringify(
    messages.map((m) => ({ name: String(m.name), at: String(m.at), data: { truncated: true } })),
  );
}

/** A step's cause with the IdP's own error, when it gave one, as a trace shows it. */
export function causeWithIdpError(cause: string, idpError: string | null | undefined): string {
  return idpError ? `${cause} (identity provider: ${idpError})` : cause;
}

/**
 * Records one attempt (in the caller's transaction when `db` is one) and returns its id — or null
 * when the connection is not the agency's (any more): a trace belongs to a connection of its
 * agency, and a connection deleted while its sign-in ran leaves none. A test or user of another
 * agency (or one deleted meanwhile) is not referenced. Never fails on a reference.
 */
export async function recordTrace(db: Db, now: Date, input: TraceInput): Promise<string | null> {
  const id = randomUUID();
  const cause = input.cause ? redactCause(input.cause).slice(0, MAX_CAUSE_LENGTH) : null;
  const began =
    input.startedAt instanceof Date && !Number.isNaN(input.startedAt.getTime()) ? input.startedAt : now;
  const startedAt = began.getTime() <= now.getTime() ? began : now;
  const result = await sql`
    INSERT INTO sso_traces (id, agency_id, connection_id, kind, purpose, test_id, outcome, step, code,
      cause, claim_names, user_id, messages, started_at, finished_at, created_at)
    SELECT ${id}, c.agency_id, c.id, coalesce(${input.kind ?? null}::text, c.type), ${input.purpose},
      (SELECT t.id FROM sso_tests t WHERE t.id = ${input.testId} AND t.agency_id = c.agency_id),
      ${input.outcome}, ${input.step}, ${input.code}, ${cause}, ${JSON.stringify(claimNamesOf(input.claimNames))}::jsonb,
      (SELECT u.id FROM users u WHERE u.id = ${input.userId} AND u.agency_id = c.agency_id),
      ${messagesJson(input.messages ?? [])}::jsonb,
      ${startedAt.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz
    FROM sso_connections c
    WHERE c.id = ${input.connectionId} AND c.agency_id = ${input.agencyId}`.execute(db);
  return Number(result.numAffectedRows ?? 0n) > 0 ? id : null;
}

const SUMMARY_COLUMNS = [
  "sso_traces.id",
  "sso_traces.connection_id",
  "sso_traces.kind",
  "sso_traces.purpose",
  "sso_traces.outcome",
  "sso_traces.step",
  "sso_traces.code",
  "sso_traces.cause",
  "sso_traces.started_at",
  "sso_traces.finished_at",
  "sso_traces.created_at",
  "sso_traces.test_id",
  "users.id as user_id",
  "users.email as user_email",
] as const;

/** The agency's traces with their matched user (a user of the same agency only). */
function traceQuery(db: Db, agencyId: string) {
  return db
    .selectFrom("sso_traces")
    .leftJoin("users", (join) =>
      join.onRef("users.id", "=", "sso_traces.user_id").onRef("users.agency_id", "=", "sso_traces.agency_id"),
    )
    .select(SUMMARY_COLUMNS)
    .where("sso_traces.agency_id", "=", agencyId);
}

type SummaryRow = Awaited<ReturnType<ReturnType<typeof traceQuery>["execute"]>>[number];

function summaryOf(r: SummaryRow): TraceSummary {
  return {
    id: r.id,
    connectionId: r.connection_id,
    kind: r.kind,
    purpose: r.purpose,
    outcome: r.outcome,
    step: r.step,
    code: r.code,
    message: r.outcome === "failure" ? ssoMessage(r.code) : null,
    cause: r.cause,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at.toISOString(),
    durationMs: Math.max(0, r.finished_at.getTime() - r.started_at.getTime()),
    testId: r.test_id,
    user: r.user_id && r.user_email ? { id: r.user_id, email: r.user_email } : null,
  };
}

/** The paging cursor: the last trace's creation time and id. */
function cursorOf(createdAt: Date, id: string): string {
  return `${createdAt.toISOString()},${id}`;
}

function parseCursor(before: string): { at: Date; id: string } {
  const comma = before.indexOf(",");
  const at = new Date(comma > 0 ? before.slice(0, comma) : "");
  const id = before.slice(comma + 1);
  if (comma <= 0 || Number.isNaN(at.getTime()) || id.length === 0 || id.length > 64) {
    throw badRequest("before must be the `next` value of a previous page", "before");
  }
  return { at, id };
}

/** A connection's traces, newest first, `limit` (≤ 100) per page, from `before` (a page's `next`). */
export async function listTraces(
  db: Db,
  agencyId: string,
  connectionId: string,
  options: { outcome?: "success" | "failure"; before?: string; limit?: number } = {},
): Promise<TracePage> {
  const limit = Math.min(Math.max(1, Math.trunc(options.limit ?? DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE);
  let query = traceQuery(db, agencyId).where("sso_traces.connection_id", "=", connectionId);
  if (options.outcome) query = query.where("sso_traces.outcome", "=", options.outcome);
  if (options.before !== undefined) {
    const { at, id } = parseCursor(options.before);
    query = query.where((eb) =>
      eb.or([
        eb("sso_traces.created_at", "<", at),
        eb.and([eb("sso_traces.created_at", "=", at), eb("sso_traces.id", "<", id)]),
      ]),
    );
  }
  const rows = await query
    .orderBy("sso_traces.created_at", "desc")
    .orderBy("sso_traces.id", "desc")
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    traces: page.map(summaryOf),
    next: rows.length > limit && last ? cursorOf(last.created_at, last.id) : null,
  };
}

/** One trace of the agency (null for another agency's, as for a missing one). */
export async function getTrace(db: Db, agencyId: string, traceId: string): Promise<Trace | null> {
  const row = await traceQuery(db, agencyId)
    .where("sso_traces.id", "=", traceId)
    .select(["sso_traces.claim_names", "sso_traces.messages"])
    .executeTakeFirst();
  if (!row) return null;
  return {
    ...summaryOf(row),
    claimNames: row.claim_names ?? [],
    messages: (row.messages ?? []) as TraceMessage[],
  };
}

/** The trace a test left (the newest, should there be several), or null. */
export async function traceIdOfTest(db: Db, agencyId: string, testId: string): Promise<string | null> {
  const row = await db
    .selectFrom("sso_traces")
    .select("id")
    .where("agency_id", "=", agencyId)
    .where("test_id", "=", testId)
    .orderBy("created_at", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.id ?? null;
}

/** Deletes the traces created before `olderThan`; returns how many. */
export async function purgeTraces(db: Db, olderThan: Date): Promise<number> {
  const result = await db.deleteFrom("sso_traces").where("created_at", "<", olderThan).executeTakeFirst();
  return Number(result.numDeletedRows);
}
