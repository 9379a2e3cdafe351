/** `npm start`: configuration, database (migrated on start), HTTP server, control socket. */
import { startControlServer } from "./cli/control-socket.js";
import "./features.js";
import { buildApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { createContext } from "./context.js";
import { DataDirPermissionError } from "./db/data-dir.js";
import { DatabaseLockedError, openDatabase } from "./db/database.js";
import { startHousekeeping } from "./db/housekeeping.js";
import { createLogger } from "./logger.js";
import { startupDone } from "./startup-memory.js";

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`config: ${p}\n`);
      process.stderr.write("CoPilot did not start: fix the configuration above.\n");
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let opened: Awaited<ReturnType<typeof openDatabase>>;
  try {
    opened = await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      preparedStatements: config.databasePreparedStatements,
      log,
    });
  } catch (err) {
    if (err instanceof DatabaseLockedError || err instanceof DataDirPermissionError) {
      log.fatal(err.message);
      process.exit(1);
    }
    throw err;
  }
  const ctx = createContext(config, opened.db, { log });
  // The CLI reaches the embedded database through this process from now on.
  const stopControl = opened.kind === "pglite" ? await startControlServer(ctx, config.dataDir) : null;
  const app = await buildApp(ctx);
  const stopHousekeeping = startHousekeeping(ctx, { embedded: opened.kind === "pglite" });
  await app.listen({ port: config.port, host: config.host });
  startupDone();
  log.info(
    {
      storage:
        opened.kind === "pglite" ? `embedded PostgreSQL in ${config.dataDir}` : "PostgreSQL (DATABASE_URL)",
    },
    `CoPilot SSO listening on port ${config.port} (${config.publicUrl.origin})`,
  );

  const agencies = await opened.db.selectFrom("agencies").select("id").limit(1).execute();
  if (agencies.length === 0) {
    process.stdout.write(
      [
        "",
        "No agency exists yet. Create the first agency and its admin (in another terminal):",
        "",
        '  npm run cli -- agency create --name "Acme" --slug acme --domain acme.localhost --plan pro',
        "  npm run cli -- user create --agency acme --email admin@acme.test --role admin --password '<choose one, 10+ characters>'",
        "",
        `Then open http://acme.localhost:${config.port}/login (browsers resolve *.localhost to this machine).`,
        "",
      ].join("\n"),
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    await app.close();
    await stopHousekeeping();
    await stopControl?.();
    await opened.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err) => {
  process.stderr.write(`CoPilot failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
