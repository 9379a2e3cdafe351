/**
 * Server-side prepared statements for both storages (PostgreSQL protocol, "Extended Query":
 * a named statement is parsed and planned once per session, then only bound and executed).
 *
 * Kysely compiles every query to SQL text with `$n` parameters, so the same code path always
 * yields the same text: the text names the statement. Only plain DML is prepared (SELECT, INSERT,
 * UPDATE, DELETE, WITH): DDL, transaction control and anything else runs unnamed, as before.
 * The first STATEMENT_LIMIT distinct texts get a name; later ones run unnamed, so a code path
 * that builds unbounded variants (an `in (…)` list of every length) cannot grow the sessions'
 * memory without end.
 *
 * PostgreSQL re-plans a prepared statement by itself when a table it reads changes; the one
 * change it refuses is a different result row type for the same text, which only a migration
 * can cause, and migrations run before the server takes requests.
 */
import type { PostgresPool, PostgresPoolClient } from "kysely";
import type pg from "pg";
import { isDatabaseUnavailable } from "./unavailable.js";

export const STATEMENT_LIMIT = 1000;
const PREPARABLE = /^\s*(select|insert|update|delete|with)\b/i;

/** Process-wide names for statement texts: one text, one name, in every session. */
export class StatementNames {
  readonly #names = new Map<string, string>();

  constructor(private readonly limit = STATEMENT_LIMIT) {}

  /** The statement's name, or null when it is not to be prepared. */
  nameOf(sql: string): string | null {
    const known = this.#names.get(sql);
    if (known !== undefined) return known;
    if (this.#names.size >= this.limit || !PREPARABLE.test(sql)) return null;
    const name = `copilot_${this.#names.size + 1}`;
    this.#names.set(sql, name);
    return name;
  }

  get size(): number {
    return this.#names.size;
  }
}

/**
 * A node-postgres pool whose clients run named statements (node-postgres parses a name once per
 * connection and then sends only Bind/Execute).
 */
export function preparingPool(pool: pg.Pool, names: StatementNames): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      // A connection that failed or timed out (a query read timeout leaves the server's answer still
      // due on it) goes back as broken: the pool closes it instead of handing it out again.
      let broken: Error | undefined;
      const watch = (err: unknown) => {
        if (isDatabaseUnavailable(err)) broken = err as Error;
        throw err;
      };
      function query(sql: string, parameters: readonly unknown[]): Promise<pg.QueryResult>;
      function query(cursor: pg.Submittable): pg.Submittable;
      function query(sql: string | pg.Submittable, parameters?: readonly unknown[]) {
        if (typeof sql !== "string") return client.query(sql); // a cursor: streamed, never named
        const name = names.nameOf(sql);
        const values = parameters as unknown[];
        return client.query(name ? { name, text: sql, values } : { text: sql, values }).catch(watch);
      }
      return {
        // node-postgres's and Kysely's typings of the same two overloads do not unify.
        query: query as unknown as PostgresPoolClient["query"],
        release: () => client.release(broken),
      };
    },
    end: () => pool.end(),
  };
}
