/**
 * CLI commands of the provisioning feature (registered with registerCommand):
 * `token create --agency <slug> --scopes users.readonly,users.write [--name <name>]` prints
 * `{ token, secret }` — the only time the secret is shown.
 */
import { audit } from "../audit/audit.js";
import { agencyBySlug, registerCommand, str } from "../cli/commands.js";
import { createToken, tokenApi } from "./tokens.js";

registerCommand(
  "token create",
  "token create --agency <slug> --scopes users.readonly,users.write [--name <name>]",
  async (ctx, o) => {
    const agency = await agencyBySlug(ctx.db, str(o, "agency")!);
    const scopes = str(o, "scopes")!;
    const name =
      str(o, "name", false) ?? `CLI token ${ctx.now().toISOString().slice(0, 19).replace("T", " ")}`;
    const { token, secret } = await createToken(ctx.db, {
      agencyId: agency.id,
      name,
      scopes,
      createdBy: null,
    });
    await audit(ctx.db, {
      agencyId: agency.id,
      action: "token.create",
      actor: { type: "cli", label: "command line" },
      target: { type: "token", id: token.id },
      details: { name: token.name, scopes: token.scopes, prefix: token.prefix, via: "cli" },
    });
    return { token: tokenApi(token), secret };
  },
);
