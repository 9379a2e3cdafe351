/**
 * `npm run cli -- <command>`: prints JSON on success, a one-line reason and exit status 1 on
 * failure. With DATABASE_URL it connects to PostgreSQL; with the embedded database it opens it,
 * or, when a running server holds it, sends the command to that server's control socket.
 */
import { existsSync } from "node:fs";
import { CliError, runCommand } from "./cli/commands.js";
import { controlSocketPath, sendToServer } from "./cli/control-socket.js";
import "./features.js";
import { ConfigError, loadConfig } from "./config.js";
import { lockHolder, openDatabase } from "./db/database.js";

function fail(message: string): never {
  process.stderr.write(`error: ${message.split("\n")[0]}\n`);
  if (message.includes("\n")) process.stderr.write(`${message.split("\n").slice(1).join("\n")}\n`);
  process.exit(1);
}

async function main(argv: string[]): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) {
    const holder = lockHolder(config.dataDir);
    if (holder !== null) {
      // A server that is still starting opens its control socket a moment after the lock.
      for (let i = 0; i < 50 && !existsSync(controlSocketPath(config.dataDir)); i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      if (!existsSync(controlSocketPath(config.dataDir))) {
        fail(
          `the embedded database in ${config.dataDir} is in use by process ${holder}, which does not accept CLI commands`,
        );
      }
      const answer = await sendToServer(config.dataDir, argv);
      if (!answer.ok) fail(answer.error ?? "the server refused the command");
      process.stdout.write(`${JSON.stringify(answer.result, null, 2)}\n`);
      return;
    }
  }
  const opened = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    preparedStatements: config.databasePreparedStatements,
  });
  try {
    const result = await runCommand({ db: opened.db, config, now: () => new Date() }, argv);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await opened.close();
  }
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof CliError || err instanceof ConfigError) fail(err.message);
  fail(err instanceof Error ? err.message : String(err));
});
