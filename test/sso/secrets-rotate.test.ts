// ENCRYPTION_KEY rotation (SPEC §3): secrets sealed under the old key; `secrets rotate` with
// ENCRYPTION_KEY="new,old" re-seals every SSO client secret and TOTP secret under the new key; then
// the instance runs with the new key alone and SSO sign-in still works.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../../src/cli/commands.js";
import { createSecretBox, parseEncryptionKeys } from "../../src/crypto/secret-box.js";
import "../../src/sso/cli.js";
import { secretAad } from "../../src/sso/connections.js";
import { forgetProvider } from "../../src/sso/oidc.js";
import { storages } from "../support/db.js";
import { type Idp, startIdp } from "../support/idp.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";

const TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

describe.each(storages())("secrets rotate (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let connectionIds: string[];
  let totpUserId: string;
  let oldKey: string;
  const newKey = randomBytes(32).toString("base64url");

  /**
   * The command as an operator runs it (`npm run cli -- secrets rotate`): a real CLI process on
   * PostgreSQL (PGlite is held by this process, where the CLI would use the server's control socket
   * to run the same function), in-process otherwise.
   */
  async function rotate(
    encryptionKey: string,
    process_ = true,
  ): Promise<{ rotated: number; alreadyCurrent: number }> {
    const url = w.t.database.url;
    if (!url || !process_) {
      return (await runCommand(
        { db: w.t.ctx.db, config: { ...w.t.ctx.config, encryptionKey }, now: w.t.ctx.now },
        ["secrets", "rotate"],
      )) as { rotated: number; alreadyCurrent: number };
    }
    const root = path.resolve(import.meta.dirname, "../..");
    const run = spawnSync(path.join(root, "node_modules/.bin/tsx"), ["src/cli.ts", "secrets", "rotate"], {
      cwd: root,
      encoding: "utf8",
      env: {
        ...process.env,
        NODE_ENV: "test",
        DATABASE_URL: url,
        DATA_DIR: w.t.database.dataDir,
        JWT_SECRET: "test-jwt-secret-0123456789abcdef0123456789",
        ENCRYPTION_KEY: encryptionKey,
        LOG_LEVEL: "silent",
      },
    });
    expect(run.status, run.stderr).toBe(0);
    return JSON.parse(run.stdout);
  }

  async function sealedValues() {
    const db = w.t.ctx.db;
    const connections = await db
      .selectFrom("sso_connections")
      .select(["id", "client_secret_enc"])
      .where("id", "in", connectionIds)
      .execute();
    const user = await db
      .selectFrom("users")
      .select("totp_secret_enc")
      .where("id", "=", totpUserId)
      .executeTakeFirstOrThrow();
    return { connections, totp: user.totp_secret_enc! };
  }

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    oldKey = w.t.ctx.config.encryptionKey;
    idp = await startIdp({
      profile: "generic",
      redirectUris: [`${w.origin}/login/sso`],
      accounts: [{ sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } }],
    });
    w.watch(idp);
    await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
    const body = {
      type: "oidc",
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      discoveryUrl: idp.discoveryUrl,
    };
    const first = await w.createConnection({ ...body, name: "Acme IdP" });
    const second = await w.createConnection({ ...body, name: "Acme IdP 2" });
    connectionIds = [first.id, second.id];
    await w.enable(first.id, "user-alice");
    const user = await w.t.seedUser(w.agencyId, { email: "totp@acme.test", role: "admin" });
    totpUserId = user.id;
    await w.t.ctx.db
      .updateTable("users")
      .set({ totp_secret_enc: w.t.ctx.secretBox.encrypt(TOTP_SECRET, `user:${user.id}:totp`) })
      .where("id", "=", user.id)
      .execute();
  });
  afterAll(async () => {
    await idp?.close();
    await w?.close();
  });

  it("re-encrypts every secret under the first key, once", async () => {
    const newOnly = createSecretBox(parseEncryptionKeys(newKey));
    const before = await sealedValues();
    for (const c of before.connections) expect(newOnly.needsRotation(c.client_secret_enc!)).toBe(true);

    // Without the old key nothing can be opened: a one-line reason naming the row, not the value.
    await expect(rotate(newKey, false)).rejects.toThrow(/^SSO connection [\w-]+: .*not in ENCRYPTION_KEY$/);

    expect(await rotate(`${newKey},${oldKey}`)).toEqual({ rotated: 3, alreadyCurrent: 0 });

    const after = await sealedValues();
    for (const c of after.connections) {
      expect(newOnly.needsRotation(c.client_secret_enc!)).toBe(false);
      expect(newOnly.decrypt(c.client_secret_enc!, secretAad(c.id))).toBe(idp.clientSecret);
    }
    expect(newOnly.needsRotation(after.totp)).toBe(false);
    expect(newOnly.decrypt(after.totp, `user:${totpUserId}:totp`)).toBe(TOTP_SECRET);
    // The old key alone no longer opens anything.
    expect(() => w.t.ctx.secretBox.decrypt(after.totp, `user:${totpUserId}:totp`)).toThrow(
      /not in ENCRYPTION_KEY/,
    );

    expect(await rotate(`${newKey},${oldKey}`, false)).toEqual({ rotated: 0, alreadyCurrent: 3 });
    const [entry] = await w.t.ctx.db
      .selectFrom("audit_log")
      .select(["agency_id", "details"])
      .where("action", "=", "secrets.rotate")
      .orderBy("id", "desc")
      .execute();
    expect(entry).toMatchObject({ agency_id: null, details: { rotated: 0, alreadyCurrent: 3 } });
  });

  it("signs in with the new key alone", async () => {
    w.t.ctx.secretBox = createSecretBox(parseEncryptionKeys(newKey));
    for (const id of connectionIds) forgetProvider(w.t.ctx, id);
    const { res, browser } = await w.signIn(connectionIds[0]!, "user-alice");
    expect(where(res), res.body).toBe("/");
    expect((await browser.get(`${w.origin}/api/auth/me`)).json<any>().user.email).toBe("alice@acme.test");
    const test = await w.runTest(connectionIds[1]!, "user-alice");
    expect(test.status).toBe("passed");
  });

  it("never writes a secret, code or token to the audit log", async () => {
    w.secrets.add(TOTP_SECRET);
    await w.expectAuditClean();
  });
});
