/**
 * CLI commands of the provisioning feature (registered with registerCommand):
 * `token create --agency <slug> --scopes users.readonly,users.write [--name <name>]` prints
 * `{ token, secret }` — the only time the secret is shown.
 */
import { audit } from "../audit/audit.js";
import { agencyBySlug, registerCommand, str } from "../cli/commands.js";
import { transaction } from "../db/transaction.js";
import { createToken, tokenApi } from "./tokens.js";

registerCommand(
  "token create",
  "token create --agency <slug> --scopes users.readonly,users.write [--name <name>]",
  async (ctx, o) => {
    const agency = await agencyBySlug(ctx.db, str(o, "agency")!);
    const scopes = str(o, "scopes")!;
    const name =
      str(o, "name", false) ?? `CLI token ${ctx.now().toISOString().slice(0, 19).replace("T", " ")}`;
    // The token and its audit record commit together.
    const { token, secret } = await transaction(ctx.db, async (tx) => {
      const created = await createToken(tx, { agencyId: agency.id, name, scopes, createdBy: null });
      const t = created.token;
      await audit(tx, {
        agencyId: agency.id,
        action: "token.create",
        actor: { type: "cli", label: "command line" },
        target: { type: "token", id: t.id },
        details: { name: t.name, scopes: t.scopes, prefix: t.prefix, via: "cli" },
      });
      return created;
    });
    return { token: tokenApi(token), secret };
  },
);
