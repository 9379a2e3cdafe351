/**
 * Bulk seeding shared by the benchmarks' servers (copilot-server.ts) and the server processes
 * (memory and propagation in run.ts): straight to the database, the way an operator's bulk import
 * would — users with `INSERT … SELECT generate_series`, OIDC connections to the benchmark IdP.
 */
import { sql } from "kysely";
import pg from "pg";
import type { SecretBox } from "../src/crypto/secret-box.js";
import type { Db } from "../src/db/database.js";
import { rowValues, secretAad } from "../src/sso/connections.js";
import { normalizeConnection } from "../src/sso/kinds/index.js";

export interface BenchIdp {
  discoveryUrl: string;
  clientId: string;
  clientSecret: string;
  teamDomain: string;
}

/** Users `${prefix}${from..to}` (user<g>@bench.test, external id sub-<g>), each in sub-account `sub`. */
export async function insertBenchUsers(
  db: Db,
  agency: string,
  sub: string,
  prefix: string,
  from: number,
  to: number,
) {
  if (to < from) return;
  // A million rows take longer than the server's statement timeout on a loaded machine: the bulk
  // load lifts it for its own transaction only (the app's statements keep theirs).
  await db.transaction().execute(async (tx) => {
    await sql`SET LOCAL statement_timeout = 0`.execute(tx);
    await sql`INSERT INTO users (id, agency_id, email, name, role, external_user_id)
      SELECT ${prefix} || g, ${agency}, 'user' || g || '@bench.test', 'User ' || g, 'analyst', 'sub-' || g
      FROM generate_series(${from}::int, ${to}::int) g`.execute(tx);
    await sql`INSERT INTO memberships (user_id, sub_account_id)
      SELECT ${prefix} || g, ${sub} FROM generate_series(${from}::int, ${to}::int) g`.execute(tx);
  });
}

/** An enabled OIDC connection row of `agency` to the benchmark IdP, redirecting to domain:port. */
export function oidcConnectionRow(
  secretBox: SecretBox,
  idp: BenchIdp,
  input: { id: string; agency: string; domain: string; port: number; mapping?: Record<string, string> },
) {
  const { value } = normalizeConnection(
    {
      type: "oidc",
      name: input.mapping ? "Bench IdP (user-info)" : "Bench IdP",
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      discoveryUrl: idp.discoveryUrl,
      ...(input.mapping ? { mapping: input.mapping } : {}),
    },
    { allowHttp: true, defaultRedirectUrl: `http://${input.domain}:${input.port}/login/sso` },
  );
  return {
    id: input.id,
    agency_id: input.agency,
    ...rowValues(value),
    client_secret_enc: secretBox.encrypt(idp.clientSecret, secretAad(input.id)),
    enabled: true,
  };
}

/** An agency on `domain` (pro, SSO enabled) with one sub-account `${id}-sub`. */
export async function insertBenchAgency(
  db: Db,
  id: string,
  domain: string,
): Promise<{ subAccountId: string }> {
  await db
    .insertInto("agencies")
    .values({ id, name: id, slug: id, plan: "pro", domain, sso_enabled: true })
    .execute();
  const subAccountId = `${id}-sub`;
  await db.insertInto("sub_accounts").values({ id: subAccountId, agency_id: id, name: "Main" }).execute();
  return { subAccountId };
}

/** One statement on a separate connection (CREATE / DROP DATABASE of a run). */
export async function adminQuery(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}
