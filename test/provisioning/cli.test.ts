// `npm run cli -- token create` as a real process (one spawn: it is slow), on an embedded database
// in a temporary DATA_DIR: it prints `{ token, secret }`, stores only the hash, and audits it.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createAgency } from "../../src/agencies/agencies.js";
import { sha256Hex } from "../../src/crypto/tokens.js";
import { openDatabase } from "../../src/db/database.js";
import { authenticateToken } from "../../src/provisioning/tokens.js";

const TSX = path.resolve("node_modules/.bin/tsx");
const dir = mkdtempSync(path.join(os.tmpdir(), "copilot-prov-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function openHere() {
  return openDatabase({ databaseUrl: null, dataDir: dir, migrate: !process.env.TEST_PGLITE_TEMPLATE });
}

describe("token create (command line)", () => {
  it("prints the token and its secret once; the database keeps the hash", async () => {
    if (process.env.TEST_PGLITE_TEMPLATE) {
      cpSync(process.env.TEST_PGLITE_TEMPLATE, path.join(dir, "pgdata"), { recursive: true });
    }
    let opened = await openHere();
    const agency = await createAgency(opened.db, {
      name: "Acme",
      slug: "acme",
      plan: "pro",
      domain: "acme.localhost",
    });
    await opened.close();

    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dir, LOG_LEVEL: "warn" };
    for (const k of ["DATABASE_URL", "JWT_SECRET", "SSO_STATE_SECRET", "ENCRYPTION_KEY", "NODE_ENV"])
      delete env[k];
    const r = spawnSync(
      TSX,
      [
        "src/cli.ts",
        "token",
        "create",
        "--agency",
        "acme",
        "--scopes",
        "users.readonly,users.write",
        "--name",
        "Okta provisioning",
      ],
      { env, encoding: "utf8", timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      token: {
        id: string;
        name: string;
        scopes: string[];
        prefix: string;
        createdBy: unknown;
        revokedAt: unknown;
      };
      secret: string;
    };
    expect(out.secret).toMatch(/^pit_[A-Za-z0-9_-]{43}$/);
    expect(out.token).toMatchObject({
      name: "Okta provisioning",
      scopes: ["users.readonly", "users.write"],
      prefix: out.secret.slice(0, 12),
      createdBy: null,
      revokedAt: null,
    });
    expect(r.stderr).not.toContain(out.secret);

    opened = await openHere();
    try {
      const row = await opened.db
        .selectFrom("integration_tokens")
        .selectAll()
        .where("id", "=", out.token.id)
        .executeTakeFirstOrThrow();
      expect(row.agency_id).toBe(agency.id);
      expect(row.token_hash).toBe(sha256Hex(out.secret));
      const auth = await authenticateToken(opened.db, out.secret, new Date());
      expect(auth).toMatchObject({ ok: true, token: { id: out.token.id, agencyId: agency.id } });
      const entry = await opened.db
        .selectFrom("audit_log")
        .selectAll()
        .where("action", "=", "token.create")
        .executeTakeFirstOrThrow();
      expect(entry).toMatchObject({ actor_type: "cli", target_id: out.token.id, agency_id: agency.id });
      expect(JSON.stringify(entry)).not.toContain(out.secret);
    } finally {
      await opened.close();
    }
  }, 120_000);
});
