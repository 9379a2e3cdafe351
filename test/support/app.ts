// A CoPilot instance for tests: real Fastify app, real database (PGlite or PostgreSQL), a
// controllable clock, and helpers to seed agencies and users the way the CLI does.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import type { Logger } from "pino";
import { createAgency } from "../../src/agencies/agencies.js";
import { buildApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";
import { type AppContext, createContext } from "../../src/context.js";
import { createUser } from "../../src/users/users.js";
import { openTestDatabase, type Storage, type TestDatabase } from "./db.js";

export const TEST_PASSWORD = "correct horse battery staple";

export class Clock {
  offsetMs = 0;
  now = (): Date => new Date(Date.now() + this.offsetMs);
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface TestApp {
  app: FastifyInstance;
  ctx: AppContext;
  database: TestDatabase;
  clock: Clock;
  /** A listening base URL, once `listen()` was called. */
  baseUrl: string | null;
  listen(): Promise<string>;
  close(): Promise<void>;
  seedAgency(
    input?: Partial<{ name: string; slug: string; domain: string | null; plan: "starter" | "pro" }>,
  ): ReturnType<typeof createAgency>;
  seedUser(agencyId: string, input?: Parameters<typeof createUser>[2]): ReturnType<typeof createUser>;
  seedSubAccount(agencyId: string, name?: string): Promise<string>;
}

export async function createTestApp(
  storage: Storage,
  env: Record<string, string> = {},
  options: { idpTimeoutMs?: number; log?: Logger; database?: TestDatabase } = {},
): Promise<TestApp> {
  const database = options.database ?? (await openTestDatabase(storage));
  const config: Config = loadConfig({
    NODE_ENV: "test",
    DATA_DIR: database.dataDir,
    PUBLIC_URL: "http://localhost:3000",
    JWT_SECRET: "test-jwt-secret-0123456789abcdef0123456789",
    ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64url"),
    ALLOW_PRIVATE_IDP_URLS: "true",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...env,
  });
  const clock = new Clock();
  const ctx: AppContext = createContext(config, database.db, {
    now: clock.now,
    idpTimeoutMs: options.idpTimeoutMs,
    ...(options.log ? { log: options.log } : {}),
  });
  const app = await buildApp(ctx);
  let counter = 0;
  const t: TestApp = {
    app,
    ctx,
    database,
    clock,
    baseUrl: null,
    async listen() {
      await app.listen({ port: 0, host: "127.0.0.1" });
      const address = app.server.address();
      t.baseUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
      return t.baseUrl;
    },
    async close() {
      await app.close();
      await database.close();
    },
    seedAgency(input = {}) {
      counter++;
      const slug = input.slug ?? `agency${counter}`;
      return createAgency(database.db, {
        name: input.name ?? `Agency ${counter}`,
        slug,
        plan: input.plan ?? "pro",
        domain: input.domain === undefined ? `${slug}.localhost` : input.domain,
      });
    },
    seedUser(agencyId, input = {}) {
      counter++;
      return createUser(database.db, agencyId, {
        email: `user${counter}@example.test`,
        password: TEST_PASSWORD,
        role: "admin",
        ...input,
      });
    },
    async seedSubAccount(agencyId, name) {
      const id = crypto.randomUUID();
      await database.db
        .insertInto("sub_accounts")
        .values({ id, agency_id: agencyId, name: name ?? `Sub ${++counter}` })
        .execute();
      return id;
    },
  };
  return t;
}

/** Cookie-aware wrapper around inject for one host (agency domain). */
export class Client {
  cookies = new Map<string, string>();
  constructor(
    readonly app: FastifyInstance,
    readonly host: string,
    readonly origin = `http://${host}`,
  ) {}

  async request(opts: InjectOptions & { noOrigin?: boolean }): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = { host: this.host, ...(opts.headers as Record<string, string>) };
    const method = (opts.method ?? "GET").toUpperCase();
    if (!opts.noOrigin && method !== "GET" && !headers.origin) headers.origin = this.origin;
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await this.app.inject({ ...opts, headers });
    for (const c of res.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
      const expired = c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now()) || c.value === "";
      if (expired) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return res;
  }

  get(url: string, headers: Record<string, string> = {}) {
    return this.request({ method: "GET", url, headers });
  }
  post(url: string, payload?: unknown, headers: Record<string, string> = {}) {
    return this.request({ method: "POST", url, payload: payload as InjectOptions["payload"], headers });
  }
  put(url: string, payload?: unknown, headers: Record<string, string> = {}) {
    return this.request({ method: "PUT", url, payload: payload as InjectOptions["payload"], headers });
  }
  delete(url: string, headers: Record<string, string> = {}) {
    return this.request({ method: "DELETE", url, headers });
  }
  async login(email: string, password = TEST_PASSWORD) {
    return this.post("/api/auth/login", { email, password });
  }
}
