/**
 * `npm run bench`: CoPilot's performance against the targets of issues 8 and 15, every number measured in
 * this one run on this machine. See bench/README.md for what each benchmark does and what was found.
 *
 *   1. SSO sign-in throughput   complete OIDC sign-ins with N concurrent clients against a fast
 *                               loopback IdP: CoPilot on PGlite and on PostgreSQL vs a reference
 *                               Express + express-session + openid-client app          target ≥ 1.2×
 *                               (and on PostgreSQL ≤ 0.8× the reference's app CPU per sign-in)
 *   2. Authenticated requests   GET /api/auth/me with a session vs the ceiling (an unauthenticated
 *                               API route of the same server returning the same bytes) target ≥ 0.9×
 *   3. Cloudflare Access        requests carrying a valid assertion vs the same ceiling target ≥ 0.7×
 *   4. Cost growth              sign-in latency with 10 → 1 000 000 users in the agency and
 *                               1 → 1 000 agencies                                    target: flat ±20 %
 *   5. Memory                   RSS of `npm start`'s server process (node scripts/start.mjs): idle after
 *                               the first start and a restart, peak under sign-ins    PGlite ≤ 200 / 300 MB,
 *                                                                                     PostgreSQL ≤ 120 MB
 *   6. Propagation              two server processes on one PostgreSQL database: change on A, poll B
 *                               (sign-out, deactivation, password, settings)          p99 ≤ 100 ms
 *
 * Systems under test run in their own processes (peak RSS per process). Measurements of systems that
 * are compared are interleaved in rounds (BENCH_ROUNDS) and the median round is reported, so that
 * noise from other work on the machine hits both sides of a ratio alike.
 *
 * Environment: BENCH_QUICK=1 (smaller sizes, shorter rounds), BENCH_ONLY=signin,auth,cloudflare,growth,memory,propagation,
 * BENCH_STORAGES=pglite,postgres, BENCH_CLIENTS (sign-in clients, 16), BENCH_CONNECTIONS (HTTP
 * connections, 16), BENCH_ROUNDS, BENCH_HTTP_ROUNDS, BENCH_PROFILE=1 (after the measured rounds, one more run per
 * system while it records a CPU profile into bench/profiles/<date>/; =process profiles whole processes
 * with node --cpu-prof), BENCH_PG_DURABLE=0 (PostgreSQL without fsync), BENCH_OUT=<file> (JSON results),
 * BENCH_LOG_LEVEL (CoPilot's log level, default warn), BENCH_EXPERIMENT=idp-keepalive (adds, to the
 * sign-in table only, CoPilot servers running a measurement-only change — see copilot-server.ts),
 * BENCH_REFERENCE_AS_BEFORE=1 (adds the reference started as before issue 15: tsx loader, no NODE_ENV),
 * BENCH_SERVER_NODE_ARGS (node options of the server processes of parts 5 and 6; default: npm start's),
 * BENCH_PROPAGATION_TRIES (20).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { findPostgresBin, type PostgresServer, startPostgres } from "../scripts/postgres.js";
import { closedLoop, HttpClient, type LoopResult, median, percentile, signIn } from "./load.js";
import { CHANGE_KINDS, type MemoryResult, memoryOf, propagation } from "./nodes.js";
import { type BenchProcess, buildBench, REFERENCE_APP, spawnPlain, spawnRole } from "./processes.js";
import { buildOnce, startNodeArgs } from "./server-process.js";

// ---------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------

const env = process.env;
const intEnv = (name: string, fallback: number) => {
  const n = Number(env[name]);
  return env[name] && Number.isFinite(n) && n > 0 ? n : fallback;
};
const QUICK = env.BENCH_QUICK === "1";
const ONLY = new Set(
  (env.BENCH_ONLY ?? "signin,auth,cloudflare,growth,memory,propagation").split(",").map((s) => s.trim()),
);
/** Node options of the server processes (memory, propagation): those `npm start` runs the server with. */
const SERVER_NODE_ARGS = (env.BENCH_SERVER_NODE_ARGS ?? startNodeArgs()).split(" ").filter(Boolean);
const PROPAGATION_TRIES = intEnv("BENCH_PROPAGATION_TRIES", 20);
const CLIENTS = intEnv("BENCH_CLIENTS", 16);
const CONNECTIONS = intEnv("BENCH_CONNECTIONS", 16);
const ROUNDS = intEnv("BENCH_ROUNDS", QUICK ? 2 : 3);
/** Request rounds are short and their ratio is what the targets judge: more of them, for a steadier median. */
const HTTP_ROUNDS = intEnv("BENCH_HTTP_ROUNDS", QUICK ? 3 : 5);
const SIGNIN_SECONDS = intEnv("BENCH_SIGNIN_SECONDS", QUICK ? 3 : 5);
const SIGNIN_MAX_OPS = 20_000;
const HTTP_SECONDS = intEnv("BENCH_HTTP_SECONDS", QUICK ? 2 : 3);
const USER_SIZES = QUICK ? [10, 1_000, 10_000] : [10, 10_000, 1_000_000];
const AGENCIES = QUICK ? 100 : 1_000;
const USERS_PER_EXTRA_AGENCY = 100;
const PROBE_CLIENTS = intEnv("BENCH_PROBE_CLIENTS", 2);
const PROBE_OPS = QUICK ? 300 : 600;
const PROBE_SECONDS = QUICK ? 4 : 8;
const LOG_LEVEL = env.BENCH_LOG_LEVEL ?? "warn";
const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const STAMP = new Date().toISOString().replace(/[:.]/g, "-");
/** BENCH_PROFILE=1: an extra, profiled run per system after the measured rounds; =process: whole processes. */
const PROFILE = env.BENCH_PROFILE === "1" || env.BENCH_PROFILE === "process" ? env.BENCH_PROFILE : null;
const PROFILE_DIR = PROFILE ? path.join(BENCH_DIR, "profiles", STAMP) : undefined;

const CLIENT_ID = "bench-client";
const CLIENT_SECRET = randomBytes(24).toString("base64url");
const AUD_TAG = randomBytes(32).toString("hex");

type Storage = "pglite" | "postgres";

interface CopilotInfo {
  port: number;
  host: string;
  storage: Storage;
  experiments: string[];
  connectionId: string;
  userinfoConnectionId: string;
  cloudflareId: string;
  users: number;
}

interface Copilot {
  storage: Storage;
  /** Set for a server running a measurement-only experiment (BENCH_EXPERIMENT): sign-in table only. */
  experiment: string | null;
  proc: BenchProcess;
  info: CopilotInfo;
  origin: string;
}

// ---------------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------------

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
const results: Record<string, unknown> = {};

function table(
  title: string,
  head: string[],
  rows: Array<Array<string | number>>,
  notes: string[] = [],
): void {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const out = [
    "",
    `### ${title}`,
    "",
    line(head),
    `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`,
    ...rows.map((r) => line(r.map(String))),
    ...(notes.length ? ["", ...notes] : []),
    "",
  ];
  process.stdout.write(`${out.join("\n")}\n`);
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "–";
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : "–");
const mb = (bytes: number) => fmt(bytes / 1024 / 1024);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : "–");
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 60);

/** With BENCH_PROFILE=1: runs `work` once more while `proc` records a CPU profile into PROFILE_DIR. */
async function profiled(proc: BenchProcess, name: string, work: () => Promise<unknown>): Promise<void> {
  // The reference runs nothing but itself: it is profiled as a whole process (--cpu-prof) instead.
  if (PROFILE !== "1" || !PROFILE_DIR || proc.role === "reference") return;
  await proc.call("profileStart");
  try {
    await work();
  } finally {
    const file = path.join(PROFILE_DIR, `${slug(name)}.cpuprofile`);
    await proc.call("profileStop", { file });
    log(`profile: ${path.relative(process.cwd(), file)}`);
  }
}

/** Rotates the order of comparisons from round to round. */
function rotate<T>(items: T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---------------------------------------------------------------------------------------------------------
// 1. SSO sign-in throughput
// ---------------------------------------------------------------------------------------------------------

interface SignInTarget {
  name: string;
  proc: BenchProcess;
  op: (client: number, n: number) => Promise<void>;
}

interface Aggregate {
  opsPerSecond: number[];
  latencies: number[];
  ops: number;
  errors: number;
  firstError: string | null;
  peakRss: number;
  /** CPU time of the app's process during the rounds (ms). */
  cpuMs: number;
  /** CPU time of the IdP's process during the rounds (ms). */
  idpCpuMs: number;
}

function emptyAggregate(): Aggregate {
  return {
    opsPerSecond: [],
    latencies: [],
    ops: 0,
    errors: 0,
    firstError: null,
    peakRss: 0,
    cpuMs: 0,
    idpCpuMs: 0,
  };
}

function addLoop(a: Aggregate, r: LoopResult, peakRss: number, cpuMs: number, idpCpuMs: number): void {
  a.opsPerSecond.push(r.ops / r.seconds);
  a.latencies.push(...r.latencies);
  a.ops += r.ops;
  a.errors += r.errors;
  a.firstError ??= r.firstError;
  a.peakRss = Math.max(a.peakRss, peakRss);
  a.cpuMs += cpuMs;
  a.idpCpuMs += idpCpuMs;
}

async function signInThroughput(
  http: HttpClient,
  idp: BenchProcess,
  references: Array<{ name: string; proc: BenchProcess; origin: string }>,
  copilots: Copilot[],
) {
  const targets: SignInTarget[] = [
    ...references.map((r) => ({
      name: r.name,
      proc: r.proc,
      op: (_c: number, n: number) =>
        signIn(http, {
          startUrl: `${r.origin}/login`,
          appCookie: "connect.sid",
          sessionCookie: "connect.sid",
          user: 1 + (n % 10),
        }),
    })),
    ...copilots.flatMap((c) =>
      [false, ...(c.experiment ? [] : [true])].map((userinfo) => ({
        name: `CoPilot on ${c.storage === "pglite" ? "PGlite (embedded)" : "PostgreSQL"}${c.experiment ? ` [experiment: ${c.experiment}]` : ""}${userinfo ? " [user-info asked every time]" : ""}`,
        proc: c.proc,
        op: (_c: number, n: number) =>
          signIn(http, {
            startUrl: `${c.origin}/login/sso/start?connection=${userinfo ? c.info.userinfoConnectionId : c.info.connectionId}`,
            appCookie: "copilot_sso",
            sessionCookie: "copilot_session",
            user: 1 + (n % 10),
          }),
      })),
    ),
  ];
  log(`1/4 SSO sign-in: warming up ${targets.length} targets`);
  for (const t of targets) {
    const warm = await closedLoop({ clients: CLIENTS, maxOps: 300, maxSeconds: 4, op: t.op });
    if (warm.ops === 0) throw new Error(`${t.name}: no sign-in succeeded (${warm.firstError})`);
  }
  const agg = new Map(targets.map((t) => [t.name, emptyAggregate()]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of rotate(targets, round)) {
      log(`1/4 SSO sign-in: round ${round + 1}/${ROUNDS} ${t.name}`);
      await t.proc.peakRss();
      const [cpu0, idp0] = await Promise.all([t.proc.cpuMs(), idp.cpuMs()]);
      const r = await closedLoop({
        clients: CLIENTS,
        maxOps: SIGNIN_MAX_OPS,
        maxSeconds: SIGNIN_SECONDS,
        op: t.op,
      });
      const [cpu1, idp1] = await Promise.all([t.proc.cpuMs(), idp.cpuMs()]);
      addLoop(agg.get(t.name)!, r, await t.proc.peakRss(), cpu1 - cpu0, idp1 - idp0);
    }
  }
  for (const t of targets) {
    await profiled(t.proc, `signin ${t.name}`, () =>
      closedLoop({ clients: CLIENTS, maxOps: SIGNIN_MAX_OPS, maxSeconds: SIGNIN_SECONDS, op: t.op }),
    );
  }
  const ref = agg.get(targets[0]!.name)!;
  const refOps = median(ref.opsPerSecond);
  const refCpu = ref.cpuMs / ref.ops;
  const rows = targets.map((t, i) => {
    const a = agg.get(t.name)!;
    const ops = median(a.opsPerSecond);
    const cpu = a.cpuMs / a.ops;
    // Issue 15: ≥ 1.2× the reference's sign-ins per second on both storages; on PostgreSQL also
    // ≤ 0.8× its app CPU per sign-in.
    const met = ops >= 1.2 * refOps && (!t.name.includes("PostgreSQL") || cpu <= 0.8 * refCpu);
    return [
      t.name,
      fmt(ops),
      ms(percentile(a.latencies, 50)),
      ms(percentile(a.latencies, 99)),
      ms(cpu),
      ms(a.idpCpuMs / a.ops),
      `${a.errors}/${a.ops + a.errors}`,
      mb(a.peakRss),
      i === 0 ? "1.00×" : ratio(ops, refOps),
      i === 0 ? "1.00×" : ratio(cpu, refCpu),
      i === 0 || t.name.includes("[") || t.name.startsWith("reference") ? "" : verdict(met),
    ];
  });
  table(
    `1. SSO sign-in throughput — ${CLIENTS} concurrent clients, start → IdP → callback → session (target ≥ 1.2× the reference; on PostgreSQL also ≤ 0.8× its app CPU per sign-in)`,
    [
      "system",
      "sign-ins/s",
      "p50 ms",
      "p99 ms",
      "app CPU ms/op",
      "IdP CPU ms/op",
      "errors",
      "peak RSS MB",
      "÷ reference",
      "CPU ÷ reference",
      "target",
    ],
    rows,
    [
      `Median of ${ROUNDS} interleaved rounds of ${SIGNIN_SECONDS} s; latency over all rounds; peak RSS and CPU time (user + system, all threads, from /proc) of the app's own process and of the IdP's.`,
      "Each system runs as its users run it: the reference is `NODE_ENV=production node bench/reference-app.mjs` (plain JavaScript, no loader, nothing else in its process); CoPilot is the build (`npm run build`, dist/src) with npm start's node options and NODE_ENV=production; the IdP is compiled too.",
      "The reference makes three IdP round trips per sign-in (authorize, token, user-info). CoPilot asks user-info only when the ID token lacks a claim its mapping reads (the ID token's claims win where both have one, so asking would change nothing); the benchmark IdP's ID token carries them all. The [user-info asked every time] rows map the name from a claim only user-info could give, so CoPilot makes the same three round trips as the reference (for information).",
      "CoPilot also verifies the ID token signature, reads the user and writes the session with its audit row (one statement) in the database; the reference keeps its sessions in memory and does not check the ID token's signature.",
    ],
  );
  results.signIn = Object.fromEntries(
    [...agg].map(([k, a]) => [
      k,
      { ...a, latencies: undefined, p50: percentile(a.latencies, 50), p99: percentile(a.latencies, 99) },
    ]),
  );
  const firstErrors = [...agg].filter(([, a]) => a.firstError).map(([k, a]) => `${k}: ${a.firstError}`);
  if (firstErrors.length) log(`sign-in errors: ${firstErrors.join("; ")}`);
}

// ---------------------------------------------------------------------------------------------------------
// 2 + 3. Authenticated requests and Cloudflare Access vs the ceiling
// ---------------------------------------------------------------------------------------------------------

interface HttpTarget {
  name: string;
  path: string;
  headers: Record<string, string>;
  /** The status class every response must have. */
  expect: "2xx" | "3xx";
  /** The table the row belongs to; a ceiling heads the table named by `ceilingOf`. */
  section: "ceiling" | "auth" | "cloudflare";
  ceilingOf?: "auth" | "cloudflare";
  /** The row the table's target is about (others are shown for information). */
  targeted?: boolean;
  /** Each request is a sign-in (a session per request): checked by counting sessions. */
  signsIn?: boolean;
}

interface HttpAggregate {
  rps: number[];
  p50: number[];
  p99: number[];
  requests: number;
  unexpected: number;
  peakRss: number;
  sessionsMissing: number;
  cpuMs: number;
}

async function httpVsCeiling(http: HttpClient, idp: BenchProcess, copilot: Copilot) {
  const { origin, info } = copilot;
  const host = `${info.host}:${info.port}`;
  const { token } = await copilot.proc.call<{ token: string }>("session");
  const assertion = await idp.call<string>("signCloudflare", {
    email: "user1@bench.test",
    sub: "sub-1",
    aud: AUD_TAG,
  });

  // Sanity: each route answers as the benchmark assumes before it is loaded.
  const me = await http.get(`${origin}/api/auth/me`, {
    cookie: `copilot_session=${token}`,
    accept: "application/json",
  });
  if (me.status !== 200) throw new Error(`/api/auth/me with the session answered ${me.status}`);
  const cf = await http.get(`${origin}/login/sso/cloudflare`, { "cf-access-jwt-assertion": assertion });
  const cfSignIn = cf.status === 302 && cf.location !== undefined && new URL(cf.location).pathname === "/";
  if (!cfSignIn)
    log(`GET /login/sso/cloudflare did not sign in (${cf.status} → ${cf.location}); measured anyway`);
  // The session that sign-in started: behind Access, each of its requests carries the assertion.
  const cfSession = cf.cookies.get("copilot_session") ?? "";
  const cfMe = await http.get(`${origin}/api/auth/me`, {
    cookie: `copilot_session=${cfSession}`,
    "cf-access-jwt-assertion": assertion,
    accept: "application/json",
  });
  if (cfMe.status !== 200) throw new Error(`/api/auth/me of the Cloudflare session answered ${cfMe.status}`);
  const verify = await http.get(`${origin}/bench/cloudflare-verify`, {
    "cf-access-jwt-assertion": assertion,
  });
  if (verify.status !== 200) throw new Error(`/bench/cloudflare-verify answered ${verify.status}`);

  const targets: HttpTarget[] = [];
  // Each ceiling gets exactly the headers of the request it is compared with: only the
  // authentication differs (a 1 KB assertion header costs parsing on any route).
  if (ONLY.has("auth"))
    targets.push({
      name: "ceiling: GET /api/bench/ceiling (no auth, same bytes, same headers)",
      path: "/api/bench/ceiling",
      headers: { cookie: `copilot_session=${token}`, accept: "application/json" },
      expect: "2xx",
      section: "ceiling",
      ceilingOf: "auth",
    });
  if (ONLY.has("cloudflare"))
    targets.push({
      name: "ceiling: GET /api/bench/ceiling (no auth, same bytes, the Cloudflare request's headers)",
      path: "/api/bench/ceiling",
      headers: {
        cookie: `copilot_session=${cfSession}`,
        "cf-access-jwt-assertion": assertion,
        accept: "application/json",
      },
      expect: "2xx",
      section: "ceiling",
      ceilingOf: "cloudflare",
    });
  if (ONLY.has("auth"))
    targets.push({
      name: "GET /api/auth/me with a session cookie",
      path: "/api/auth/me",
      headers: { cookie: `copilot_session=${token}`, accept: "application/json" },
      expect: "2xx",
      section: "auth",
      targeted: true,
    });
  if (ONLY.has("auth"))
    targets.push({
      name: "GET /bench/ceiling: the ceiling before issue 15, outside /api/ (no agency lookup, no Cache-Control header)",
      path: "/bench/ceiling",
      headers: { cookie: `copilot_session=${token}`, accept: "application/json" },
      expect: "2xx",
      section: "auth",
    });
  if (ONLY.has("cloudflare")) {
    targets.push({
      name: "GET /api/auth/me, Cloudflare session + its assertion (checked every request)",
      path: "/api/auth/me",
      headers: {
        cookie: `copilot_session=${cfSession}`,
        "cf-access-jwt-assertion": assertion,
        accept: "application/json",
      },
      expect: "2xx",
      section: "cloudflare",
      targeted: true,
    });
    targets.push({
      name: "GET /login/sso/cloudflare with a valid assertion (a sign-in each)",
      path: "/login/sso/cloudflare",
      headers: { "cf-access-jwt-assertion": assertion, accept: "text/html" },
      expect: "3xx",
      signsIn: true,
      section: "cloudflare",
    });
    targets.push({
      name: "assertion verification only (verifyAccessAssertion), same bytes",
      path: "/bench/cloudflare-verify",
      headers: { "cf-access-jwt-assertion": assertion },
      expect: "2xx",
      section: "cloudflare",
    });
  }
  const agg = new Map<string, HttpAggregate>(
    targets.map((t) => [
      t.name,
      { rps: [], p50: [], p99: [], requests: 0, unexpected: 0, peakRss: 0, sessionsMissing: 0, cpuMs: 0 },
    ]),
  );
  // Warm-up (JIT, caches).
  for (const t of targets) {
    await autocannon({
      url: `http://127.0.0.1:${info.port}${t.path}`,
      connections: CONNECTIONS,
      duration: 1,
      headers: { host, ...t.headers },
    });
  }
  for (let round = 0; round < HTTP_ROUNDS; round++) {
    for (const t of rotate(targets, round)) {
      log(`2-3/4 ${copilot.storage}: round ${round + 1}/${HTTP_ROUNDS} ${t.path}`);
      const before = t.signsIn ? await copilot.proc.call<{ sessions: number }>("counts") : null;
      await copilot.proc.peakRss();
      const cpu0 = await copilot.proc.cpuMs();
      const r = await autocannon({
        url: `http://127.0.0.1:${info.port}${t.path}`,
        connections: CONNECTIONS,
        duration: HTTP_SECONDS,
        headers: { host, ...t.headers },
      });
      const cpu1 = await copilot.proc.cpuMs();
      const peak = await copilot.proc.peakRss();
      const a = agg.get(t.name)!;
      a.cpuMs += cpu1 - cpu0;
      const seconds = (new Date(r.finish).getTime() - new Date(r.start).getTime()) / 1000;
      const total = r["1xx"] + r["2xx"] + r["3xx"] + r["4xx"] + r["5xx"];
      a.rps.push(total / seconds);
      a.p50.push(r.latency.p50);
      a.p99.push(r.latency.p99);
      a.requests += total;
      a.unexpected += total - r[t.expect] + r.errors + r.timeouts;
      a.peakRss = Math.max(a.peakRss, peak);
      if (before) {
        const after = await copilot.proc.call<{ sessions: number }>("counts");
        a.sessionsMissing += Math.max(0, r["3xx"] - (after.sessions - before.sessions));
      }
    }
  }
  for (const t of targets) {
    await profiled(copilot.proc, `http ${copilot.storage} ${t.path}`, () =>
      autocannon({
        url: `http://127.0.0.1:${info.port}${t.path}`,
        connections: CONNECTIONS,
        duration: HTTP_SECONDS,
        headers: { host, ...t.headers },
      }),
    );
  }
  return { targets, agg, cfSignIn };
}

function printHttp(
  number: string,
  title: string,
  per: Array<{ copilot: Copilot; targets: HttpTarget[]; agg: Map<string, HttpAggregate> }>,
  section: "auth" | "cloudflare",
  target: number,
  notes: string[],
) {
  const rows: Array<Array<string | number>> = [];
  const out: Record<string, unknown> = {};
  for (const { copilot, targets, agg } of per) {
    const ceilingTarget = targets.find((t) => t.ceilingOf === section)!;
    const ceilingRps = median(agg.get(ceilingTarget.name)!.rps);
    for (const t of targets.filter((x) => x === ceilingTarget || x.section === section)) {
      const a = agg.get(t.name)!;
      const rps = median(a.rps);
      const isCeiling = t === ceilingTarget;
      rows.push([
        `${copilot.storage}: ${t.name}`,
        fmt(rps),
        ms(median(a.p50)),
        ms(median(a.p99)),
        fmt((1000 * a.cpuMs) / a.requests),
        `${a.unexpected + a.sessionsMissing}/${a.requests}`,
        mb(a.peakRss),
        isCeiling ? "1.00×" : ratio(rps, ceilingRps),
        isCeiling ? "" : t.targeted ? verdict(rps >= target * ceilingRps) : "(info)",
      ]);
      out[`${copilot.storage}: ${t.name}`] = {
        rps,
        p50: median(a.p50),
        p99: median(a.p99),
        cpuMicrosPerRequest: (1000 * a.cpuMs) / a.requests,
        ratio: rps / ceilingRps,
        peakRss: a.peakRss,
      };
    }
  }
  table(
    `${number}. ${title} — ${CONNECTIONS} connections (target ≥ ${target.toFixed(1)}× the ceiling)`,
    ["route", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "bad/total", "peak RSS MB", "÷ ceiling", "target"],
    rows,
    [
      `autocannon; median of ${HTTP_ROUNDS} interleaved rounds of ${HTTP_SECONDS} s per route (latency in whole ms as autocannon measures it).`,
      ...notes,
    ],
  );
  results[number === "2" ? "authenticated" : "cloudflare"] = out;
}

// ---------------------------------------------------------------------------------------------------------
// 4. Cost growth
// ---------------------------------------------------------------------------------------------------------

interface Stage {
  label: string;
  users: number;
  agencies: number;
  seedSeconds: number | null;
  result: LoopResult;
  peakRss: number;
  cpuMs: number;
}

interface SameTime {
  label: string;
  users: number;
  latencies: number[];
  op: (client: number, n: number) => Promise<void>;
}

async function costGrowth(http: HttpClient, copilot: Copilot) {
  const { info } = copilot;
  const stages: Stage[] = [];
  let users = info.users;
  const opFor = (host: string, connectionId: string, population: () => number) => (_c: number, _n: number) =>
    signIn(http, {
      startUrl: `http://${host}:${info.port}/login/sso/start?connection=${connectionId}`,
      appCookie: "copilot_sso",
      sessionCookie: "copilot_session",
      user: 1 + Math.floor(Math.random() * population()),
    });
  const mainOp = opFor(info.host, info.connectionId, () => users);
  const probe = async (label: string, agencies: number, seedSeconds: number | null, op = mainOp) => {
    log(`4/4 ${copilot.storage}: ${label}`);
    await closedLoop({ clients: PROBE_CLIENTS, maxOps: 100, maxSeconds: 3, op });
    await copilot.proc.peakRss();
    const cpu0 = await copilot.proc.cpuMs();
    const result = await closedLoop({
      clients: PROBE_CLIENTS,
      maxOps: PROBE_OPS,
      maxSeconds: PROBE_SECONDS,
      op,
    });
    const cpuMs = (await copilot.proc.cpuMs()) - cpu0;
    stages.push({
      label,
      users,
      agencies,
      seedSeconds,
      result,
      peakRss: await copilot.proc.peakRss(),
      cpuMs,
    });
  };

  // A cold process is slower for its first few hundred sign-ins (JIT): warm it before the first stage.
  await closedLoop({ clients: CLIENTS, maxOps: 1_000, maxSeconds: 8, op: mainOp });
  await probe(`${fmt(users)} users, 1 agency`, 1, null);
  for (const size of USER_SIZES.filter((s) => s > users)) {
    log(`4/4 ${copilot.storage}: seeding the agency up to ${fmt(size)} users`);
    const grown = await copilot.proc.call<{ users: number; seconds: number }>("growUsers", { to: size });
    users = grown.users;
    await probe(`${fmt(users)} users, 1 agency`, 1, grown.seconds);
  }
  const smaller = USER_SIZES.slice(0, -1);
  log(
    `4/4 ${copilot.storage}: seeding ${AGENCIES - 1} more agencies (${smaller.map((n) => fmt(n)).join(", ")} then ${USERS_PER_EXTRA_AGENCY} users each, a connection each)`,
  );
  const added = await copilot.proc.call<{ agencies: number; seconds: number }>("addAgencies", {
    count: AGENCIES - 1,
    usersEach: USERS_PER_EXTRA_AGENCY,
    sizes: smaller,
  });
  await probe(`${fmt(users)} users, ${fmt(added.agencies)} agencies`, added.agencies, added.seconds);

  // Sign-ins spread over every agency (each its own host, connection, discovery and read-cache entry).
  const extras =
    await copilot.proc.call<Array<{ domain: string; connectionId: string; users: number }>>("agencies");
  const spreadOp = (c: number, n: number) => {
    const a = extras[n % extras.length]!;
    return opFor(a.domain, a.connectionId, () => a.users)(c, n);
  };
  log(`4/4 ${copilot.storage}: first sign-in at each of ${extras.length} other agencies (discovery, caches)`);
  const first = await closedLoop({ clients: CLIENTS, maxOps: extras.length, maxSeconds: 120, op: spreadOp });
  if (first.errors) log(`first sign-ins: ${first.errors} errors (${first.firstError})`);
  await probe(`spread over the ${fmt(extras.length)} other agencies`, added.agencies, null, (c, _n) =>
    spreadOp(c, Math.floor(Math.random() * extras.length)),
  );

  // The same comparison at the same time, immune to drift in the machine's load: agencies of every
  // size measured in alternation, in the final database.
  log(`4/4 ${copilot.storage}: agencies of ${USER_SIZES.map((n) => fmt(n)).join(", ")} users, interleaved`);
  const sameTime: SameTime[] = [
    ...smaller.map((n, i) => {
      const a = extras[i]!;
      return {
        label: `${fmt(n)}-user agency`,
        users: n,
        latencies: [],
        op: opFor(a.domain, a.connectionId, () => n),
      };
    }),
    { label: `${fmt(users)}-user agency`, users, latencies: [], op: mainOp },
  ];
  // A multiple of the number of agencies, so that each takes every position in the order equally
  // often (a load that rises during the stage then favours none of them).
  for (let round = 0; round < 2 * sameTime.length; round++) {
    for (const x of rotate(sameTime, round)) {
      const r = await closedLoop({
        clients: PROBE_CLIENTS,
        maxOps: PROBE_OPS / 4,
        maxSeconds: PROBE_SECONDS / 2,
        op: x.op,
      });
      x.latencies.push(...r.latencies);
    }
  }
  return { stages, sameTime };
}

// ---------------------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const procs: BenchProcess[] = [];
  let pgServer: PostgresServer | null = null;
  const http = new HttpClient(Math.max(CLIENTS, CONNECTIONS) * 2);
  const stopAll = async () => {
    await Promise.all(procs.map((p) => p.stop().catch(() => {})));
    pgServer?.stop();
    await http.close();
  };
  process.on("SIGINT", () => {
    log("interrupted, stopping …");
    void stopAll().then(() => process.exit(130));
  });

  try {
    const wanted = (env.BENCH_STORAGES ?? "pglite,postgres").split(",").map((s) => s.trim()) as Storage[];
    const pgBin = wanted.includes("postgres") ? findPostgresBin() : null;
    const storages = wanted.filter((s) => s === "pglite" || (s === "postgres" && pgBin));
    if (wanted.includes("postgres") && !pgBin)
      log("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): PGlite only");
    const load0 = os.loadavg();
    process.stdout.write(
      [
        "# CoPilot SSO benchmarks",
        "",
        `${new Date().toISOString()} · Node ${process.version} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"} · ${fmt(os.totalmem() / 2 ** 30, 1)} GiB`,
        `load average at start ${load0.map((l) => l.toFixed(2)).join(" ")}${QUICK ? " · BENCH_QUICK=1 (smaller sizes)" : ""}${PROFILE_DIR ? ` · CPU profiles in ${path.relative(process.cwd(), PROFILE_DIR)}` : ""}`,
        "",
      ].join("\n"),
    );
    if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
    const spawnOpts = { profileDir: PROFILE === "process" ? PROFILE_DIR : undefined };

    const needsChildren = ["signin", "auth", "cloudflare", "growth"].some((p) => ONLY.has(p));
    // Every process runs compiled JavaScript, as its users run it: CoPilot the build of `npm run
    // build` (dist/src) with npm start's node options, the reference its plain .mjs.
    buildOnce(log);
    buildBench(log);

    log("starting the IdP");
    const idp = await spawnRole<{ issuer: string; port: number; discoveryUrl: string; teamDomain: string }>(
      "idp",
      { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      spawnOpts,
    );
    procs.push(idp.proc);
    if (storages.includes("postgres") && pgBin) {
      log("starting a throwaway PostgreSQL server");
      pgServer = await startPostgres(pgBin, { durable: env.BENCH_PG_DURABLE !== "0" });
    }
    log(`starting CoPilot (${storages.join(", ")}) and the reference app`);
    const idpArgs = {
      discoveryUrl: idp.info.discoveryUrl,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      teamDomain: idp.info.teamDomain,
    };
    const experiment = env.BENCH_EXPERIMENT?.trim() || null;
    const servers = (needsChildren ? storages : []).flatMap((storage) =>
      experiment && ONLY.has("signin")
        ? [
            { storage, experiment: null },
            { storage, experiment },
          ]
        : [{ storage, experiment: null }],
    );
    const [reference, ...copilotStarts] = await Promise.all([
      ONLY.has("signin")
        ? spawnPlain<{ origin: string; port: number }>(
            "reference",
            REFERENCE_APP,
            {
              REF_DISCOVERY_URL: idp.info.discoveryUrl,
              REF_CLIENT_ID: CLIENT_ID,
              REF_CLIENT_SECRET: CLIENT_SECRET,
            },
            { profileDir: PROFILE_DIR },
          )
        : Promise.resolve(null),
      ...servers.map(({ storage, experiment: exp }) =>
        spawnRole<CopilotInfo>(
          "copilot",
          {
            storage,
            adminUrl: pgServer?.url,
            idp: idpArgs,
            audTag: AUD_TAG,
            initialUsers: USER_SIZES[0],
            logLevel: LOG_LEVEL,
            experiments: exp ? [exp] : [],
          },
          { ...spawnOpts, nodeArgs: SERVER_NODE_ARGS },
        ),
      ),
    ]);
    if (reference) procs.push(reference.proc);
    // BENCH_REFERENCE_AS_BEFORE=1: also the same reference started the way this benchmark started
    // it until issue 15 (`node --import tsx`, NODE_ENV unset), for the before/after comparison.
    const referenceAsBefore =
      reference && env.BENCH_REFERENCE_AS_BEFORE === "1"
        ? await spawnPlain<{ origin: string; port: number }>(
            "reference",
            REFERENCE_APP,
            {
              NODE_ENV: "",
              REF_DISCOVERY_URL: idp.info.discoveryUrl,
              REF_CLIENT_ID: CLIENT_ID,
              REF_CLIENT_SECRET: CLIENT_SECRET,
            },
            { nodeArgs: ["--import", "tsx"] },
          )
        : null;
    if (referenceAsBefore) procs.push(referenceAsBefore.proc);
    const allCopilots: Copilot[] = copilotStarts.map((c) => {
      procs.push(c.proc);
      return {
        storage: c.info.storage,
        experiment: c.info.experiments[0] ?? null,
        proc: c.proc,
        info: c.info,
        origin: `http://${c.info.host}:${c.info.port}`,
      };
    });
    const copilots = allCopilots.filter((c) => !c.experiment);

    if (ONLY.has("signin") && reference) {
      const references = [
        {
          name: "reference: Express 5 + express-session (MemoryStore) + openid-client 6",
          proc: reference.proc,
          origin: reference.info.origin,
        },
      ];
      if (referenceAsBefore)
        references.push({
          name: "reference as the benchmark ran it before issue 15 (tsx loader, no NODE_ENV) (info)",
          proc: referenceAsBefore.proc,
          origin: referenceAsBefore.info.origin,
        });
      await signInThroughput(http, idp.proc, references, allCopilots);
      // The experiments' servers are done: let them not take memory or CPU from what follows.
      for (const c of allCopilots.filter((x) => x.experiment)) await c.proc.stop();
    }

    if (ONLY.has("auth") || ONLY.has("cloudflare")) {
      const per = [];
      for (const c of copilots) per.push({ copilot: c, ...(await httpVsCeiling(http, idp.proc, c)) });
      if (ONLY.has("auth")) {
        printHttp("2", "Authenticated request throughput", per, "auth", 0.9, [
          "The ceiling is a route added to the same CoPilot instance under /api/ (same plugins and hooks: the agency of the Host is resolved, Cache-Control: no-store is added) that returns /api/auth/me's exact bytes, headers included, without looking at the cookie; it receives the same request headers (the session cookie, Accept) as the authenticated request. Until issue 15 it was /bench/ceiling, outside /api/: no agency lookup and one response header fewer than the request it was compared with (the (info) row).",
        ]);
      }
      if (ONLY.has("cloudflare")) {
        printHttp("3", "Cloudflare Access", per, "cloudflare", 0.7, [
          "The ceiling here receives the Cloudflare request's headers (the session cookie and the assertion): only the checking differs.",
          "The target row: a session Cloudflare Access started, used the way Access sends requests — every one carries the assertion, which CoPilot checks (valid, same person, connection still enabled) before the session counts; a verified assertion is remembered until its exp.",
          "GET /login/sso/cloudflare verifies the assertion AND signs the person in on every request (user lookup, new session, audit row): what a sign-in costs, for information.",
          "The verification-only row runs the server's own verifyAccessAssertion (JWKS cache, RS256, every claim check) and returns the ceiling's bytes: what verifying an assertion costs by itself.",
          ...(per.some((p) => !p.cfSignIn)
            ? ["WARNING: GET /login/sso/cloudflare did not sign in before the load; see the log above."]
            : []),
        ]);
      }
    }

    if (ONLY.has("growth")) {
      const rows: Array<Array<string | number>> = [];
      const verdicts: string[] = [];
      const out: Record<string, unknown> = {};
      for (const c of copilots) {
        const { stages, sameTime } = await costGrowth(http, c);
        const base = percentile(stages[0]!.result.latencies, 50);
        for (const s of stages) {
          rows.push([
            `${c.storage}: ${s.label}`,
            s.seedSeconds === null ? "" : fmt(s.seedSeconds, 1),
            fmt(s.result.ops / s.result.seconds),
            ms(percentile(s.result.latencies, 50)),
            ms(percentile(s.result.latencies, 99)),
            ms(s.cpuMs / s.result.ops),
            s.result.errors,
            mb(s.peakRss),
            ratio(percentile(s.result.latencies, 50), base),
          ]);
        }
        const smallest = percentile(sameTime[0]!.latencies, 50);
        for (const x of sameTime) {
          rows.push([
            `${c.storage}: same time, ${x.label}`,
            "",
            "",
            ms(percentile(x.latencies, 50)),
            ms(percentile(x.latencies, 99)),
            "",
            "",
            "",
            ratio(percentile(x.latencies, 50), smallest),
          ]);
        }
        const p50s = sameTime.map((x) => percentile(x.latencies, 50));
        const usersSpread = Math.max(...p50s) / Math.min(...p50s);
        const oneAgency = stages.filter((s) => s.agencies === 1).at(-1)!;
        const manyAgencies = stages.find((s) => s.agencies > 1)!;
        const agencySpread =
          percentile(manyAgencies.result.latencies, 50) / percentile(oneAgency.result.latencies, 50);
        const sequential = stages.slice(0, -1).map((s) => percentile(s.result.latencies, 50));
        verdicts.push(
          `${c.storage}: users ${fmt(USER_SIZES[0]!)} → ${fmt(USER_SIZES.at(-1)!)} at the same time: slowest ÷ fastest p50 ${usersSpread.toFixed(2)}× (${verdict(usersSpread <= 1.2)}); ` +
            `1 → ${fmt(AGENCIES)} agencies (adjacent stages): ${agencySpread.toFixed(2)}× (${verdict(agencySpread <= 1.2)}); ` +
            `sequential stages, slowest ÷ fastest p50: ${(Math.max(...sequential) / Math.min(...sequential)).toFixed(2)}× (includes the machine's drift)`,
        );
        out[c.storage] = {
          stages: stages.map((s) => ({
            label: s.label,
            users: s.users,
            agencies: s.agencies,
            seedSeconds: s.seedSeconds,
            opsPerSecond: s.result.ops / s.result.seconds,
            p50: percentile(s.result.latencies, 50),
            p99: percentile(s.result.latencies, 99),
            errors: s.result.errors,
            cpuMsPerSignIn: s.cpuMs / s.result.ops,
            peakRss: s.peakRss,
          })),
          sameTime: sameTime.map((x) => ({
            label: x.label,
            users: x.users,
            p50: percentile(x.latencies, 50),
            p99: percentile(x.latencies, 99),
          })),
          usersSpread,
          agencySpread,
        };
      }
      table(
        `4. Cost growth — sign-in latency, ${PROBE_CLIENTS} concurrent clients, a random person of the agency each time (target: flat within 20 %)`,
        [
          "stage",
          "seed s",
          "sign-ins/s",
          "p50 ms",
          "p99 ms",
          "CPU ms/op",
          "errors",
          "peak RSS MB",
          "p50 ÷ first",
        ],
        rows,
        [
          "Stages run one after the other on one database: users (each with a sub-account membership) and agencies are added in bulk with INSERT … SELECT generate_series; 'seed s' is that insert plus ANALYZE.",
          `The 'same time' rows sign in, in alternating rounds, at agencies of each size in the final database (${fmt(AGENCIES)} agencies): the comparison the machine's changing load cannot skew.`,
          ...verdicts,
        ],
      );
      results.growth = out;
    }

    if (ONLY.has("memory") || (ONLY.has("propagation") && pgServer)) {
      // The children of the parts above are done: stop them so the server processes have the CPU.
      for (const c of allCopilots) await c.proc.stop();
      if (reference) await reference.proc.stop();
    }

    if (ONLY.has("memory")) {
      const measured: MemoryResult[] = [];
      for (const storage of storages) {
        measured.push(
          await memoryOf({
            storage,
            adminUrl: pgServer?.url ?? null,
            idp: idpArgs,
            http,
            clients: CLIENTS,
            seconds: SIGNIN_SECONDS * ROUNDS,
            nodeArgs: SERVER_NODE_ARGS,
            log,
          }),
        );
      }
      const target = (m: MemoryResult) =>
        m.storage === "pglite"
          ? verdict(
              m.firstIdle <= 200 * 2 ** 20 && m.restartIdle <= 200 * 2 ** 20 && m.loadPeak <= 300 * 2 ** 20,
            )
          : verdict(m.firstIdle <= 120 * 2 ** 20 && m.restartIdle <= 120 * 2 ** 20);
      table(
        "5. Memory of a server process — resident MB (targets: PGlite idle ≤ 200 and peak under sign-ins ≤ 300; PostgreSQL idle ≤ 120)",
        [
          "storage",
          "first start s",
          "idle after first start",
          "peak during first start",
          "restart s",
          "idle after restart",
          "peak under sign-ins",
          "idle after sign-ins",
          "sign-ins",
          "errors",
          "target",
        ],
        measured.map((m) => [
          m.storage === "pglite" ? "PGlite (embedded)" : "PostgreSQL",
          fmt(m.firstStartMs / 1000, 1),
          mb(m.firstIdle),
          mb(m.firstPeak),
          fmt(m.restartMs / 1000, 1),
          mb(m.restartIdle),
          mb(m.loadPeak),
          mb(m.afterLoadIdle),
          m.signIns,
          m.errors,
          target(m),
        ]),
        [
          `\`node${SERVER_NODE_ARGS.length ? ` ${SERVER_NODE_ARGS.join(" ")}` : ""} scripts/start.mjs\` (what \`npm start\` runs: the build is current, so the launcher imports dist/src/main.js in its own process), NODE_ENV=production, its own process; RSS from /proc (VmRSS 5 s after /healthz first answered or after the load; the peak is VmHWM).`,
          `Sign-ins: ${CLIENTS} concurrent clients for ${SIGNIN_SECONDS * ROUNDS} s against the benchmark IdP (as table 1), after a restart on the data written meanwhile (10 users, one OIDC connection).`,
        ],
      );
      results.memory = measured;
    }

    if (ONLY.has("propagation")) {
      if (!pgServer) log("propagation needs PostgreSQL (PGlite is one node): skipped");
      else {
        const measured = await propagation({
          adminUrl: pgServer.url,
          tries: PROPAGATION_TRIES,
          nodeArgs: SERVER_NODE_ARGS,
          log,
        });
        table(
          `6. Propagation between two nodes — node A changes, node B polled back to back (target p99 ≤ 100 ms over ${PROPAGATION_TRIES} tries each)`,
          [
            "change on node A",
            "tries",
            "p50 ms",
            "p99 ms",
            "max ms",
            "stale answers of B, p50",
            "p99",
            "target",
          ],
          CHANGE_KINDS.map((kind) => {
            const r = measured.find((m) => m.kind === kind)!;
            const p99 = percentile(r.times, 99);
            return [
              kind,
              r.times.length,
              ms(percentile(r.times, 50)),
              ms(p99),
              ms(Math.max(...r.times)),
              percentile(r.polls, 50),
              percentile(r.polls, 99),
              verdict(p99 <= 100),
            ];
          }),
          [
            "Two server processes (`node --v8-pool-size=1 scripts/start.mjs`, as `npm start`) on one PostgreSQL database, each with its read cache (agencies, sessions, users, memberships, connections) warmed with the session or settings first; the time runs from node A's answer to the first answer of B that reflects the change.",
            "Sign-out: POST /api/auth/logout; deactivation: DELETE /api/admin/users/:id; password change: PUT /api/admin/users/:id {password}; settings: PUT /api/admin/sso/settings {provisioning}, B read through GET /api/admin/sso.",
          ],
        );
        results.propagation = measured;
      }
    }

    const load1 = os.loadavg();
    process.stdout.write(
      `\nload average at end ${load1.map((l) => l.toFixed(2)).join(" ")} · total ${fmt((Date.now() - started) / 1000)} s\n`,
    );
    if (env.BENCH_OUT) {
      writeFileSync(
        env.BENCH_OUT,
        `${JSON.stringify({ date: new Date().toISOString(), quick: QUICK, results }, null, 2)}\n`,
      );
      log(`results written to ${env.BENCH_OUT}`);
    }
  } finally {
    await stopAll();
    if (PROFILE_DIR)
      log(
        `CPU profiles in ${PROFILE_DIR} (summarize: node_modules/.bin/tsx bench/profile-summary.ts <file>)`,
      );
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
