/**
 * What every feature plugin receives: configuration, the database, the clock, and the
 * cross-cutting services. Tests build it with their own clock and database.
 */
import type { Logger } from "pino";
import type { Config } from "./config.js";
import type { Db } from "./db/database.js";
import type { Metrics } from "./http/metrics.js";

export interface AppContext {
  config: Config;
  db: Db;
  /** The clock. Tests replace it to move time (session expiry, TOTP steps, state expiry). */
  now: () => Date;
  metrics: Metrics;
  log: Logger;
}
