/** Runs the migrations on start (and from `npm run cli -- migrate`). The list is static so it
 * works the same from TypeScript sources and from the compiled build. */
import { type Kysely, type Migration, type MigrationProvider, Migrator } from "kysely";
import * as m001 from "./migrations/001_initial.js";
import * as m002 from "./migrations/002_cache_invalidation.js";
import * as m003 from "./migrations/003_sso_identities.js";
import * as m004 from "./migrations/004_sso_traces.js";
import * as m005 from "./migrations/005_saml.js";
import * as m006 from "./migrations/006_saml_connections.js";
import * as m007 from "./migrations/007_sso_groups.js";

const migrations: Record<string, Migration> = {
  "001_initial": m001,
  "002_cache_invalidation": m002,
  "003_sso_identities": m003,
  "004_sso_traces": m004,
  "005_saml": m005,
  "006_saml_connections": m006,
  "007_sso_groups": m007,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableName: "schema_migrations" });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
