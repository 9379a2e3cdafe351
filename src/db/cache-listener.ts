/**
 * Cross-node read-cache invalidation on PostgreSQL (SPEC §16): one dedicated connection per node,
 * outside the pool, that `LISTEN`s on the channel migration 002's triggers notify, and clears the
 * caches of the table each notification names. Notifications of this node's own writes arrive too
 * and clear harmlessly (the write watcher already cleared them).
 *
 * Losing the connection loses notifications, so until the listener is subscribed again the node's
 * caches are bypassed (every read goes to the database) and they start empty afterwards. Reconnects
 * back off from 100 ms, doubling up to 5 s; the process never dies of this connection's errors.
 */
import pg from "pg";
import { CACHE_CHANNEL } from "./migrations/002_cache_invalidation.js";
import type { ReadCaches } from "./read-cache.js";

export interface ListenerLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface CacheListenerOptions {
  connectionString: string;
  caches: ReadCaches;
  log?: ListenerLog;
  /** First reconnect delay and the cap of its doubling (ms). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export const LISTENER_APPLICATION_NAME = "copilot-cache-listener";

export class CacheListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  /** The server process id of the listening connection (null while not subscribed). */
  backendPid: number | null = null;
  /** Successful subscriptions so far (1 after start; +1 per reconnect). */
  subscriptions = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly options: CacheListenerOptions) {
    this.minBackoffMs = options.minBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.backoffMs = this.minBackoffMs;
  }

  /** Subscribes (the caches are bypassed until it succeeds); retries in the background on failure. */
  async start(): Promise<void> {
    this.options.caches.setTrusted(false);
    await this.connect();
  }

  /** Resolves once subscribed more than `count` times (a test waits for a resubscription). */
  subscribed(count = 0): Promise<void> {
    if (this.subscriptions > count) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.subscriptions > count) resolve();
        else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: LISTENER_APPLICATION_NAME,
      // A hung server must not hold the start (or a reconnect) forever: fail and back off.
      connectionTimeoutMillis: 10_000,
      // A connection that silently vanished (no RST) must be noticed: the kernel probes it.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    this.client = client;
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = null;
      this.backendPid = null;
      client.removeAllListeners("notification");
      client.end().catch(() => {});
      if (this.stopped) return;
      this.options.caches.setTrusted(false);
      this.options.log?.warn(
        { err: err?.message ?? "connection ended", retryInMs: this.backoffMs },
        "read-cache listener lost its database connection; caches bypassed until it is back",
      );
      this.schedule();
    };
    client.on("error", onLost);
    client.on("end", () => onLost());
    client.on("notification", (n) => {
      if (n.channel !== CACHE_CHANNEL) return;
      if (n.payload) this.options.caches.written(n.payload);
      else this.options.caches.clearAll();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CACHE_CHANNEL}`);
      const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      if (lost || this.stopped) {
        if (this.stopped) await client.end().catch(() => {});
        return;
      }
      this.backendPid = rows[0]?.pid ?? null;
      // Anything written while nobody listened is unknown: start empty.
      this.options.caches.setTrusted(true);
      if (this.subscriptions > 0) this.options.log?.info({}, "read-cache listener subscribed again");
      this.subscriptions++;
      this.backoffMs = this.minBackoffMs;
      for (const w of this.waiters.splice(0)) w();
    } catch (err) {
      onLost(err as Error);
    }
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners("notification");
      await client.end().catch(() => {});
    }
  }
}
