// Once per run: a migrated PGlite data directory that each suite copies (opening a copy takes
// well under a second; creating a fresh PGlite takes several).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { openDatabase } from "../../src/db/database.js";

export default async function setup() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "copilot-template-"));
  const opened = await openDatabase({ databaseUrl: null, dataDir: dir });
  await opened.close();
  process.env.TEST_PGLITE_TEMPLATE = path.join(dir, "pgdata");
  return () => rmSync(dir, { recursive: true, force: true });
}
