// An app whose log lines (debug level) are captured, for the "no secret in the logs" tests.
import { Writable } from "node:stream";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { type AppContext, createContext } from "../../src/context.js";
import { createLogger } from "../../src/logger.js";
import { openTestDatabase, type TestDatabase } from "./db.js";

export interface LoggedApp {
  app: Awaited<ReturnType<typeof buildApp>>;
  ctx: AppContext;
  database: TestDatabase;
}

/** Builds an app on a fresh PGlite whose every log line is pushed into `lines`. */
export async function startLoggedApp(lines: string[], env: Record<string, string> = {}): Promise<LoggedApp> {
  const database = await openTestDatabase("pglite");
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const config = loadConfig({
    NODE_ENV: "development",
    DATA_DIR: database.dataDir,
    LOG_LEVEL: "debug",
    ...env,
  });
  const ctx = createContext(config, database.db, { log: createLogger("debug", sink) });
  return { app: await buildApp(ctx), ctx, database };
}
