/**
 * Kysely dialect for embedded PGlite. PGlite is one PostgreSQL backend in this process: one
 * session, so connections are handed out one at a time (a queue), and a transaction holds the
 * only connection until it ends. The SQL is PostgreSQL's, compiled by Kysely's own Postgres
 * adapter and compiler: the same SQL runs on PGlite and on a real server. Plain DML runs as
 * named prepared statements (see prepared.ts), as it does on a real server.
 */
import { type PGlite, parse, protocol, type Results } from "@electric-sql/pglite";
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from "kysely";
import { StatementNames } from "./prepared.js";

class PGliteConnection implements DatabaseConnection {
  /** Parameter types of the statements this session has prepared, by name. */
  readonly #prepared = new Map<string, number[]>();

  constructor(
    private readonly pg: PGlite,
    private readonly names: StatementNames,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const name = this.names.nameOf(query.sql);
    const result = name
      ? await this.pg._runExclusiveQuery(() => this.#executePrepared<R>(name, query))
      : await this.pg.query<R>(query.sql, query.parameters as unknown[]);
    return { rows: result.rows, numAffectedRows: BigInt(result.affectedRows ?? 0) };
  }

  /**
   * A named statement in one round trip into the engine: Bind, Describe (portal), Execute, Sync —
   * after a Parse + Describe (statement) the first time this session sees the name. PGlite's own
   * query() parses, plans and describes every time, in six round trips.
   */
  async #executePrepared<R>(name: string, query: CompiledQuery): Promise<Results<R>> {
    let types = this.#prepared.get(name);
    if (types === undefined) {
      const described = await this.pg.execProtocol(
        frame([
          protocol.serialize.parse({ name, text: query.sql }),
          protocol.serialize.describe({ type: "S", name }),
          protocol.serialize.sync(),
        ]),
        { syncToFs: false },
      );
      types = parse.parseDescribeStatementResults(described.messages);
      this.#prepared.set(name, types);
    }
    const serializers = this.pg.serializers;
    const values = query.parameters.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serialize = serializers[types[i] ?? -1];
      return serialize ? serialize(value) : String(value);
    });
    const executed = await this.pg.execProtocol(
      frame([
        protocol.serialize.bind({ statement: name, values }),
        protocol.serialize.describe({ type: "P" }),
        protocol.serialize.execute({}),
        protocol.serialize.sync(),
      ]),
    );
    return parse.parseResults(executed.messages, this.pg.parsers)[0] as Results<R>;
  }

  // biome-ignore lint/correctness/useYield: streaming is not offered by PGlite
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("PGlite does not support streaming queries");
  }
}

/** Frontend messages sent to the engine as one buffer. */
function frame(messages: Uint8Array[]): Uint8Array {
  return Buffer.concat(messages);
}

class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection;
  private queue: Promise<void> = Promise.resolve();
  private release: (() => void) | null = null;

  constructor(
    private readonly pg: PGlite,
    names: StatementNames,
  ) {
    this.connection = new PGliteConnection(pg, names);
  }

  async init(): Promise<void> {
    await this.pg.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    this.release = release;
    return this.connection;
  }

  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : "";
    await conn.executeQuery(CompiledQuery.raw(`begin${isolation}`));
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw("commit"));
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw("rollback"));
  }

  async releaseConnection(): Promise<void> {
    const release = this.release;
    this.release = null;
    release?.();
  }

  async destroy(): Promise<void> {
    await this.queue;
    await this.pg.close();
  }
}

export class PGliteDialect implements Dialect {
  readonly #names = new StatementNames();

  constructor(private readonly pg: PGlite) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.pg, this.#names);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
}
