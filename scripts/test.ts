// `npm test`: every suite against embedded PGlite and against a real PostgreSQL server.
// When Debian's PostgreSQL server binaries are present (/usr/lib/postgresql/*/bin), a throwaway
// server is started here (initdb in a temp folder, a free loopback port) and stopped afterwards.
// Without them the run says so and uses PGlite only; with CI=true their absence is a failure.
import { spawn } from "node:child_process";
import { findPostgresBin, type PostgresServer, startPostgres } from "./postgres.js";

const bin = findPostgresBin();
let pg: PostgresServer | null = null;
if (bin) {
  pg = await startPostgres(bin, { durable: false });
  console.log(
    `test: PostgreSQL server from ${bin} started for this run; suites run on PGlite and PostgreSQL`,
  );
} else if (process.env.CI === "true") {
  console.error(
    "test: PostgreSQL server binaries not found (apt-get install postgresql); CI requires both storages",
  );
  process.exit(1);
} else {
  console.log(
    "test: PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): running on PGlite only",
  );
}

const env = { ...process.env, ...(pg ? { TEST_DATABASE_URL: pg.url } : {}) };
const child = spawn("npx", ["vitest", "run", ...process.argv.slice(2)], { stdio: "inherit", env });
process.on("SIGINT", () => child.kill("SIGINT"));
child.on("exit", (code, signal) => {
  pg?.stop();
  process.exit(code ?? (signal ? 1 : 0));
});
