/**
 * The server (`npm start` runs it through scripts/start.mjs, in the same process): configuration,
 * database (migrated on start), HTTP server, control socket, graceful shutdown on SIGTERM/SIGINT.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { startControlServer } from "./cli/control-socket.js";
import "./features.js";
import { buildApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { createContext } from "./context.js";
import { DataDirPermissionError } from "./db/data-dir.js";
import { DatabaseLockedError, openDatabase } from "./db/database.js";
import { startHousekeeping } from "./db/housekeeping.js";
import { isDatabaseUnavailable } from "./db/unavailable.js";
import { buildMetricsApp } from "./http/ops-routes.js";
import { gracefulShutdown } from "./http/shutdown.js";
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
  // A signal while starting is kept and acted on once the server is up (stopping half-way through
  // creating the embedded database would leave it broken).
  let shutdown: ((signal: string, skipDrain?: boolean) => void) | null = null;
  let signalledWhileStarting: string | null = null;
  const onSignal = (signal: string) => {
    if (shutdown) return shutdown(signal);
    signalledWhileStarting ??= signal;
    log.info({ signal }, "stopping as soon as the start is complete");
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  // Last line of defence: a lost database connection that some code did not handle (an 'error'
  // event without a listener, a rejected promise nobody awaited) is logged, not fatal. Anything else
  // still ends the process, as Node does by default.
  const survive = (err: unknown) => {
    if (isDatabaseUnavailable(err)) {
      log.error({ err }, "a database error was not handled where it happened; the server stays up");
      return;
    }
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  };
  process.on("uncaughtException", survive);
  process.on("unhandledRejection", survive);
  if (!config.databaseUrl && !existsSync(path.join(config.dataDir, "pgdata"))) {
    log.info(
      `Creating the embedded database in ${path.join(config.dataDir, "pgdata")} (first start, a few seconds)…`,
    );
  }
  let opened: Awaited<ReturnType<typeof openDatabase>>;
  try {
    opened = await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      preparedStatements: config.databasePreparedStatements,
      timeouts: {
        connectMs: config.databaseConnectTimeoutMs,
        idleMs: config.databaseIdleTimeoutMs,
        statementMs: config.databaseStatementTimeoutMs,
      },
      onConnectionError: (err) => log.warn({ err: { message: err.message } }, "database connection lost"),
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
  const metricsApp = config.metricsPort === null ? null : await buildMetricsApp(ctx);
  await metricsApp?.listen({ port: config.metricsPort!, host: config.metricsHost });
  const stop = async () => {
    await app.close();
    await metricsApp?.close();
    await stopHousekeeping();
    await stopControl?.();
    await opened.close();
  };
  shutdown = gracefulShutdown(app, {
    drainMs: config.shutdownDrainSeconds * 1000,
    timeoutMs: config.shutdownTimeoutSeconds * 1000,
    log,
    stop,
    exit: (code) => process.exit(code),
  });
  if (signalledWhileStarting) shutdown(signalledWhileStarting, true);
  log.info(
    {
      storage:
        opened.kind === "pglite" ? `embedded PostgreSQL in ${config.dataDir}` : "PostgreSQL (DATABASE_URL)",
    },
    `CoPilot SSO listening on port ${config.port} (${config.publicUrl.origin})`,
  );

  // Only a hint: a database that is gone right now must not stop the server.
  const agencies = await opened.db
    .selectFrom("agencies")
    .select("id")
    .limit(1)
    .execute()
    .catch(() => null);
  if (agencies?.length === 0) {
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
}

main().catch((err) => {
  process.stderr.write(`CoPilot failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
