// Issue 14 item 2: the embedded database's files (WAL with emails and password hashes,
// pg_control) are private to the user running CoPilot: no group or other permission bit anywhere
// in DATA_DIR, for a new data directory and for one an earlier version left open.

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createAgency } from "../../src/agencies/agencies.js";
import { DataDirPermissionError } from "../../src/db/data-dir.js";
import { openDatabase } from "../../src/db/database.js";
import { createUser } from "../../src/users/users.js";

/** Every path under dir (dir included) whose mode has a group/other bit, with that mode. */
function loose(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o077) !== 0) out.push(`${path.relative(dir, p) || "."} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(path.join(p, n));
  };
  walk(dir);
  return out;
}

const dirs: string[] = [];
const tmp = () => {
  const parent = mkdtempSync(path.join(os.tmpdir(), "copilot-perm-"));
  dirs.push(parent);
  return path.join(parent, "data");
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Opens the embedded database, writes to it (new WAL, new relation files), closes it. */
async function openWriteClose(dataDir: string, migrate = true) {
  const opened = await openDatabase({ databaseUrl: null, dataDir, migrate });
  const agency = await createAgency(opened.db, {
    name: "Acme",
    slug: `acme${Date.now()}`,
    plan: "pro",
    domain: null,
  });
  await createUser(opened.db, agency.id, {
    email: "a@acme.test",
    password: "correct horse battery",
    role: "admin",
  });
  await opened.close();
}

describe("DATA_DIR permissions (pglite)", () => {
  it("a new data directory and everything PGlite writes in it are owner-only", async () => {
    const dataDir = tmp();
    const previous = process.umask(0o000); // the loosest an operator's shell could have
    try {
      await openWriteClose(dataDir);
    } finally {
      process.umask(previous);
    }
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(readdirSync(path.join(dataDir, "pgdata")).length).toBeGreaterThan(5);
    expect(loose(dataDir)).toEqual([]);
  }, 120_000);

  it("an existing data directory left world-readable and writable is tightened at start", async () => {
    const dataDir = tmp();
    const template = process.env.TEST_PGLITE_TEMPLATE;
    if (!template) throw new Error("TEST_PGLITE_TEMPLATE is not set (global setup)");
    cpSync(template, path.join(dataDir, "pgdata"), { recursive: true });
    const openUp = (p: string) => {
      const st = lstatSync(p);
      chmodSync(p, 0o777);
      if (st.isDirectory()) for (const n of readdirSync(p)) openUp(path.join(p, n));
    };
    openUp(dataDir);
    expect(loose(dataDir).length).toBeGreaterThan(5);
    await openWriteClose(dataDir, false);
    expect(loose(dataDir)).toEqual([]);
  }, 120_000);

  it("refuses to start, naming the file, when a loose file cannot be made private", async (context) => {
    const dataDir = tmp();
    const template = process.env.TEST_PGLITE_TEMPLATE;
    if (!template) throw new Error("TEST_PGLITE_TEMPLATE is not set (global setup)");
    cpSync(template, path.join(dataDir, "pgdata"), { recursive: true });
    const stuck = path.join(dataDir, "notes.txt");
    writeFileSync(stuck, "left by someone else");
    chmodSync(stuck, 0o666);
    // An immutable file refuses chmod even to its owner (and to root, who may run this test).
    if (spawnSync("chattr", ["+i", stuck]).status !== 0) context.skip("chattr +i is not available here");
    try {
      const opening = openDatabase({ databaseUrl: null, dataDir, migrate: false });
      await expect(opening).rejects.toBeInstanceOf(DataDirPermissionError);
      await expect(opening).rejects.toThrow(stuck);
    } finally {
      spawnSync("chattr", ["-i", stuck]);
    }
  });
});
