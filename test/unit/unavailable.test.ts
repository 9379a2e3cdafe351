// Which errors mean "the database is unreachable right now" (503 / sso_failed) — and which do not.
import net from "node:net";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { freePort } from "../../scripts/postgres.js";
import { isDatabaseUnavailable } from "../../src/db/unavailable.js";
import { badRequest } from "../../src/http/errors.js";

describe("isDatabaseUnavailable", () => {
  it("is true for a PostgreSQL that refuses connections, and for the server's shutdown and timeout codes", async () => {
    const port = await freePort();
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    const refused = await client.connect().catch((e: unknown) => e);
    expect(isDatabaseUnavailable(refused)).toBe(true);
    // A server that accepts and never answers: the pool's connect timeout.
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const pool = new pg.Pool({
      connectionString: `postgres://postgres@127.0.0.1:${(silent.address() as net.AddressInfo).port}/postgres`,
      connectionTimeoutMillis: 100,
    });
    const timedOut = await pool.connect().catch((e: unknown) => e);
    silent.close();
    await pool.end();
    expect(String(timedOut)).toMatch(/timeout|terminated/i);
    expect(isDatabaseUnavailable(timedOut)).toBe(true);
    // SQLSTATEs as the server sends them (pg.DatabaseError): shutdown, crash, starting up, cancelled.
    for (const code of ["57P01", "57P02", "57P03", "08006", "53300", "57014"]) {
      const e = Object.assign(new pg.DatabaseError("terminating connection", 0, "error"), { code });
      expect(isDatabaseUnavailable(e), code).toBe(true);
    }
  });

  it("is false for faults of the request or of our code, and for an identity provider that is down", async () => {
    const port = await freePort();
    const idpDown = await fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(isDatabaseUnavailable(idpDown)).toBe(false); // fetch's TypeError, ECONNREFUSED only as its cause
    for (const code of ["23505", "22P02", "42P01", "40001"]) {
      const e = Object.assign(new pg.DatabaseError("statement failed", 0, "error"), { code });
      expect(isDatabaseUnavailable(e), code).toBe(false);
    }
    expect(isDatabaseUnavailable(badRequest("email must be an email address", "email"))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError("Cannot read properties of undefined"))).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
  });
});
