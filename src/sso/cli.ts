/**
 * CLI commands of this feature (registered with registerCommand).
 *
 *   secrets rotate   SPEC §3 key rotation: with ENCRYPTION_KEY="new,old", every sealed secret
 *                    (SSO client secrets, TOTP secrets) not yet under the first key is opened with
 *                    whichever key sealed it and sealed again under the first. Each row is updated
 *                    only if it still holds the value read (a concurrent change wins), so the
 *                    command can run against a live server and be re-run safely.
 */
import { sql } from "kysely";
import { audit } from "../audit/audit.js";
import { CliError, registerCommand } from "../cli/commands.js";
import { createSecretBox, parseEncryptionKeys, type SecretBox } from "../crypto/secret-box.js";
import { transaction } from "../db/transaction.js";
import { secretAad } from "./connections.js";

/** AAD of a user's sealed TOTP secret (the 2FA feature seals it with the same binding). */
const totpAad = (userId: string) => `user:${userId}:totp`;

/** Where sealed secrets live: the table and column, the AAD a row's value is bound to, how errors name the row. */
const SEALED_COLUMNS = [
  {
    table: "sso_connections",
    column: "client_secret_enc",
    aad: secretAad,
    what: (id: string) => `SSO connection ${id}`,
  },
  {
    table: "users",
    column: "totp_secret_enc",
    aad: totpAad,
    what: (id: string) => `TOTP secret of user ${id}`,
  },
] as const;

/** Opens and re-seals one value; a value no configured key opens names its row (never the value). */
function reseal(box: SecretBox, sealed: string, aad: string, what: string): string {
  try {
    return box.encrypt(box.decrypt(sealed, aad), aad);
  } catch (err) {
    throw new CliError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

registerCommand("secrets rotate", "secrets rotate", async (ctx) => {
  const box = createSecretBox(parseEncryptionKeys(ctx.config.encryptionKey));
  // Every re-sealed secret and the audit record commit together (a value no key opens undoes all).
  return transaction(ctx.db, async (tx) => {
    let rotated = 0;
    let alreadyCurrent = 0;
    for (const place of SEALED_COLUMNS) {
      const table = sql.table(place.table);
      const column = sql.ref(place.column);
      const { rows } = await sql<{ id: string; sealed: string }>`
        select id, ${column} as sealed from ${table} where ${column} is not null`.execute(tx);
      for (const row of rows) {
        if (!box.needsRotation(row.sealed)) {
          alreadyCurrent++;
          continue;
        }
        const next = reseal(box, row.sealed, place.aad(row.id), place.what(row.id));
        const updated = await sql`
          update ${table} set ${column} = ${next}
          where id = ${row.id} and ${column} = ${row.sealed} returning id`.execute(tx);
        if (updated.rows.length > 0) rotated++;
      }
    }

    await audit(tx, {
      agencyId: null,
      action: "secrets.rotate",
      actor: { type: "cli", label: "command line" },
      details: { rotated, alreadyCurrent },
    });
    return { rotated, alreadyCurrent };
  });
});
