/**
 * The command line's commands (SPEC §11). Each takes parsed options and returns JSON. The same
 * functions run in the CLI process (own database connection) or inside a running server that
 * owns the embedded database (sent over its local control socket): one implementation.
 */
import { randomUUID } from "node:crypto";
import { agencyApi, createAgency, findAgencyBySlug } from "../agencies/agencies.js";
import { audit } from "../audit/audit.js";
import type { Config } from "../config.js";
import type { Db } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";
import { transaction } from "../db/transaction.js";
import { AppError } from "../http/errors.js";
import { createUser, userApi } from "../users/users.js";

export interface CliContext {
  db: Db;
  config: Config;
  now: () => Date;
}

export type Options = Record<string, string | true>;
export type Command = (ctx: CliContext, options: Options) => Promise<unknown>;

export class CliError extends Error {}

export function str(options: Options, name: string, required = true): string | undefined {
  const v = options[name];
  if (v === true || v === "") throw new CliError(`--${name} needs a value`);
  if (v === undefined && required) throw new CliError(`--${name} is required`);
  return v;
}

export async function agencyBySlug(db: Db, slug: string) {
  const agency = await findAgencyBySlug(db, slug);
  if (!agency) throw new CliError(`unknown agency "${slug}"`);
  return agency;
}

const CLI_ACTOR = { type: "cli" as const, label: "command line" };

/** Registry of commands by "noun verb". Features add theirs with `registerCommand`. */
export const commands = new Map<string, { usage: string; run: Command }>();

export function registerCommand(name: string, usage: string, run: Command): void {
  commands.set(name, { usage, run });
}

registerCommand("migrate", "migrate", async (ctx) => ({ applied: await migrateToLatest(ctx.db) }));

registerCommand(
  "agency create",
  "agency create --name <name> --slug <slug> --domain <hostname> --plan <starter|pro>",
  async (ctx, o) => {
    const agency = await transaction(ctx.db, async (tx) => {
      const created = await createAgency(tx, {
        name: str(o, "name")!,
        slug: str(o, "slug")!,
        plan: str(o, "plan", false) ?? "starter",
        domain: str(o, "domain", false) ?? null,
      });
      await audit(tx, {
        agencyId: created.id,
        action: "agency.create",
        actor: CLI_ACTOR,
        target: { type: "agency", id: created.id },
        details: { slug: created.slug, plan: created.plan, domain: created.domain },
      });
      return created;
    });
    return { agency: agencyApi(agency) };
  },
);

registerCommand(
  "user create",
  "user create --agency <slug> --email <email> --role <admin|analyst> [--name <name>] [--password <password>] [--sub-account <name>]",
  async (ctx, o) => {
    const agency = await agencyBySlug(ctx.db, str(o, "agency")!);
    const subName = str(o, "sub-account", false);
    // The sub-account it creates, the user, its membership and the audit record: all or nothing.
    const user = await transaction(ctx.db, async (tx) => {
      const subAccountIds: string[] = [];
      if (subName) {
        const existing = await tx
          .selectFrom("sub_accounts")
          .select("id")
          .where("agency_id", "=", agency.id)
          .where((eb) => eb(eb.fn("lower", ["name"]), "=", subName.toLowerCase()))
          .executeTakeFirst();
        const id = existing?.id ?? randomUUID();
        if (!existing)
          await tx.insertInto("sub_accounts").values({ id, agency_id: agency.id, name: subName }).execute();
        subAccountIds.push(id);
      }
      return createUser(
        tx,
        agency.id,
        {
          email: str(o, "email"),
          role: str(o, "role", false) ?? "analyst",
          name: str(o, "name", false),
          password: str(o, "password", false) ?? null,
          subAccountIds,
        },
        (u) => ({
          agencyId: agency.id,
          action: "user.create",
          actor: CLI_ACTOR,
          target: { type: "user", id: u.id },
          details: { email: u.email, role: u.role, via: "cli" },
        }),
      );
    });
    return { user: userApi(user) };
  },
);

/** `["agency","create","--name","Acme",...]` → command name and options. */
export function parseArgs(argv: string[]): { name: string; options: Options } {
  const words: string[] = [];
  const options: Options = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      if (eq > 0) options[arg.slice(2, eq)] = arg.slice(eq + 1);
      else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--"))
        options[arg.slice(2)] = argv[++i]!;
      else options[arg.slice(2)] = true;
    } else words.push(arg);
  }
  return { name: words.join(" "), options };
}

export function usage(): string {
  return ["Usage: npm run cli -- <command>", ...[...commands.values()].map((c) => `  ${c.usage}`)].join("\n");
}

/** Runs one command; every failure becomes a one-line reason. */
export async function runCommand(ctx: CliContext, argv: string[]): Promise<unknown> {
  const { name, options } = parseArgs(argv);
  const command = commands.get(name);
  if (!command) throw new CliError(name ? `unknown command "${name}"\n${usage()}` : usage());
  try {
    return await command.run(ctx, options);
  } catch (err) {
    if (err instanceof AppError) {
      throw new CliError(err.field ? `${err.message} (--${cliFlag(err.field)})` : err.message);
    }
    throw err;
  }
}

function cliFlag(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
