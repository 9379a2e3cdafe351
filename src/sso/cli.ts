/**
 * CLI commands of this feature (registered with registerCommand).
 *
 *   secrets rotate   SPEC §3 key rotation: with ENCRYPTION_KEY="new,old", every sealed secret
 *                    (SSO client secrets, TOTP secrets) not yet under the first key is opened with
 *                    whichever key sealed it and sealed again under the first. Each row is updated
 *                    only if it still holds the value read (a concurrent change wins), so the
 *                    command can run against a live server and be re-run safely.
 */
import { audit } from "../audit/audit.js";
import { CliError, registerCommand } from "../cli/commands.js";
import { createSecretBox, parseEncryptionKeys, type SecretBox } from "../crypto/secret-box.js";
import { transaction } from "../db/transaction.js";
import { secretAad } from "./connections.js";

/** AAD of a user's sealed TOTP secret (the 2FA feature seals it with the same binding). */
const totpAad = (userId: string) => `user:${userId}:totp`;

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

    const connections = await tx
      .selectFrom("sso_connections")
      .select(["id", "client_secret_enc"])
      .where("client_secret_enc", "is not", null)
      .execute();
    for (const row of connections) {
      const sealed = row.client_secret_enc!;
      if (!box.needsRotation(sealed)) {
        alreadyCurrent++;
        continue;
      }
      const aad = secretAad(row.id);
      const res = await tx
        .updateTable("sso_connections")
        .set({ client_secret_enc: reseal(box, sealed, aad, `SSO connection ${row.id}`) })
        .where("id", "=", row.id)
        .where("client_secret_enc", "=", sealed)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) > 0) rotated++;
    }

    const users = await tx
      .selectFrom("users")
      .select(["id", "totp_secret_enc"])
      .where("totp_secret_enc", "is not", null)
      .execute();
    for (const row of users) {
      const sealed = row.totp_secret_enc!;
      if (!box.needsRotation(sealed)) {
        alreadyCurrent++;
        continue;
      }
      const aad = totpAad(row.id);
      const res = await tx
        .updateTable("users")
        .set({ totp_secret_enc: reseal(box, sealed, aad, `TOTP secret of user ${row.id}`) })
        .where("id", "=", row.id)
        .where("totp_secret_enc", "=", sealed)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) > 0) rotated++;
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
