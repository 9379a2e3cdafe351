/**
 * A short-lived read cache for the hot path of every request: the agency of a Host header and
 * the session + user behind a cookie. Each database handle has its own cache, and a Kysely plugin
 * clears the entries of a table whenever this process writes to it — so nothing a request changes
 * can be read stale on this node, whoever wrote it. On PostgreSQL, other nodes' writes (and the
 * CLI's, and any SQL) reach every node through `LISTEN`/`NOTIFY` (migration 002's trigger and
 * cache-listener.ts) within milliseconds; while a node is not listening its caches are bypassed,
 * and the TTL (2 s) bounds what a lost notification could leave behind.
 */
import {
  DeleteQueryNode,
  InsertQueryNode,
  type KyselyPlugin,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  TableNode,
  type UnknownRow,
  UpdateQueryNode,
} from "kysely";

export const READ_CACHE_TTL_MS = 2_000;
const MAX_ENTRIES = 10_000;

/** Tables whose writes make cached reads stale. */
export type Watched = "agencies" | "sessions" | "users" | "memberships" | "sso_connections";
const WATCHED = new Set<string>(["agencies", "sessions", "users", "memberships", "sso_connections"]);

/** Shared by the caches of one handle: false while invalidations could be missed (no listener). */
interface Trust {
  trusted: boolean;
}

export class ReadCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  /** Bumped by every clear: a read that started before a write must not be cached after it. */
  private generation = 0;
  constructor(
    readonly ttlMs = READ_CACHE_TTL_MS,
    private readonly trust: Trust = { trusted: true },
    /** The clock, ms since the epoch (an application context passes its ctx.now). */
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The cached value, or `load()`'s — cached only when no write to a watched table happened while
   * it ran (otherwise the value may predate the write). `undefined` (nothing found) is not cached.
   */
  async through<L extends V | undefined>(key: string, load: () => Promise<L>): Promise<V | L> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const generation = this.generation;
    const value = await load();
    if (value !== undefined && generation === this.generation) this.set(key, value as V);
    return value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get(key: string): V | undefined {
    if (!this.trust.trusted) return undefined;
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: V): void {
    if (!this.trust.trusted) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}

/** The caches of one database handle, cleared by table. */
export class ReadCaches {
  private readonly byTable = new Map<Watched, Array<ReadCache<unknown>>>();
  private readonly all: Array<ReadCache<unknown>> = [];
  private readonly trust: Trust = { trusted: true };
  constructor(readonly ttlMs = READ_CACHE_TTL_MS) {}

  create<V>(tables: Watched[], now?: () => number): ReadCache<V> {
    const cache = new ReadCache<V>(this.ttlMs, this.trust, now);
    this.all.push(cache as ReadCache<unknown>);
    for (const t of tables)
      this.byTable.set(t, [...(this.byTable.get(t) ?? []), cache as ReadCache<unknown>]);
    return cache;
  }

  written(table: string): void {
    for (const c of this.byTable.get(table as Watched) ?? []) c.clear();
  }

  /** Drops everything: a notification may have been missed. */
  clearAll(): void {
    for (const c of this.all) c.clear();
  }

  /**
   * While untrusted (this node cannot hear other nodes' writes: its listener is reconnecting),
   * every read goes to the database and nothing is cached; becoming trusted again starts empty.
   */
  setTrusted(trusted: boolean): void {
    this.trust.trusted = trusted;
    this.clearAll();
  }

  get trusted(): boolean {
    return this.trust.trusted;
  }
}

function tableOf(node: OperationNode | undefined): string | undefined {
  if (!node) return undefined;
  if (TableNode.is(node)) return node.table.identifier.name;
  const aliased = (node as { node?: OperationNode }).node;
  return aliased && TableNode.is(aliased) ? aliased.table.identifier.name : undefined;
}

/** Tables a statement writes, including data-modifying WITH queries (`WITH s AS (INSERT …) …`). */
export function writtenTables(node: OperationNode): string[] {
  const inCtes = (
    (node as { with?: { expressions: Array<{ expression: OperationNode }> } }).with?.expressions ?? []
  ).flatMap((cte) => writtenTables(cte.expression));
  if (InsertQueryNode.is(node)) return [tableOf(node.into), ...inCtes].filter(Boolean) as string[];
  if (UpdateQueryNode.is(node)) return [tableOf(node.table), ...inCtes].filter(Boolean) as string[];
  if (DeleteQueryNode.is(node))
    return [...node.from.froms.map(tableOf), ...inCtes].filter(Boolean) as string[];
  return inCtes;
}

/** Clears the caches of every table a query writes, before it runs and again once it ran. */
export class WriteWatcher implements KyselyPlugin {
  private readonly pending = new WeakMap<object, string[]>();
  constructor(readonly caches: ReadCaches) {}

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const tables = writtenTables(args.node).filter((t) => WATCHED.has(t));
    if (tables.length > 0) {
      for (const t of tables) this.caches.written(t);
      this.pending.set(args.queryId, tables);
    }
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    for (const t of this.pending.get(args.queryId) ?? []) this.caches.written(t);
    return args.result;
  }
}

const registry = new WeakMap<object, ReadCaches>();

export function readCachesOf(db: object): ReadCaches {
  let caches = registry.get(db);
  if (!caches) {
    caches = new ReadCaches();
    registry.set(db, caches);
  }
  return caches;
}

export function registerReadCaches(db: object, caches: ReadCaches): void {
  registry.set(db, caches);
}
