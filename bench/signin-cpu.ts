/**
 * CPU of one SSO sign-in inside CoPilot's process, without inbound sockets: start and callback go
 * through Fastify's inject (light-my-request), one sign-in at a time, and only those two calls are
 * timed (process.cpuUsage around each, nothing else running in the process meanwhile), so the figure
 * is CoPilot's own work — the state, the code exchange and ID token check against the benchmark IdP
 * (another process, over loopback), the user lookup, the session with its audit row — and none of the
 * client's or the IdP's. Less sensitive to a loaded machine than throughput; for comparing changes,
 * not part of `npm run bench`'s tables. Runs compiled, as CoPilot runs (`npm run build` and
 * `tsc -p bench/tsconfig.json` first):
 *
 *   NODE_ENV=production node --v8-pool-size=1 --import ./dist/src/startup-memory.js dist/bench/signin-cpu.js
 *   STORAGES=pglite,postgres ROUNDS=5 N=1000 PROFILE=<dir> …   (PROFILE: a CPU profile of the last round)
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import path from "node:path";
import { findPostgresBin, startPostgres } from "../scripts/postgres.js";
import { MAIN_DOMAIN, startCopilotServer } from "./copilot-server.js";
import { HttpClient } from "./load.js";
import { spawnRole } from "./processes.js";

const CLIENT_ID = "bench-client";
const CLIENT_SECRET = "bench-secret-".padEnd(40, "x");
const N = Number(process.env.N ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const storages = (process.env.STORAGES ?? "pglite,postgres").split(",") as Array<"pglite" | "postgres">;

const idp = await spawnRole<{ discoveryUrl: string; teamDomain: string }>("idp", {
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
});
const pgBin = storages.includes("postgres") ? findPostgresBin() : null;
const pg = pgBin ? await startPostgres(pgBin, { durable: true }) : null;
const http = new HttpClient(2);

const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

try {
  const servers: Array<{ storage: string; server: Awaited<ReturnType<typeof startCopilotServer>> }> = [];
  for (const storage of storages) {
    if (storage === "postgres" && !pg) continue;
    const server = await startCopilotServer({
      storage,
      ...(pg ? { adminUrl: pg.url } : {}),
      idp: { ...idp.info, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      audTag: "a".repeat(64),
      initialUsers: 10,
      logLevel: "warn",
    });
    servers.push({ storage, server });
  }
  /** Mean CPU µs of CoPilot's part of `n` sign-ins (start + callback). */
  const signIns = async (server: (typeof servers)[number]["server"], n: number) => {
    const host = `${MAIN_DOMAIN}:${server.info.port}`;
    let used = 0;
    for (let i = 0; i < n; i++) {
      let t = cpu();
      const start = await server.inject({
        method: "GET",
        url: `/login/sso/start?connection=${server.info.connectionId}`,
        headers: { host, accept: "text/html" },
      });
      used += cpu() - t;
      const binding = start.cookies.find((c) => c.name === "copilot_sso");
      if (start.statusCode !== 302 || !binding) throw new Error(`start answered ${start.statusCode}`);
      const atIdp = await http.get(start.headers.location as string, {
        cookie: `bench_user=${1 + (i % 10)}`,
      });
      const callback = new URL(atIdp.location ?? "");
      t = cpu();
      const done = await server.inject({
        method: "GET",
        url: `${callback.pathname}${callback.search}`,
        headers: { host, accept: "text/html", cookie: `copilot_sso=${binding.value}` },
      });
      used += cpu() - t;
      if (done.statusCode !== 302 || done.headers.location !== "/")
        throw new Error(`callback answered ${done.statusCode} → ${done.headers.location}`);
    }
    return used / n;
  };
  for (const { server } of servers) await signIns(server, 300); // warm-up (JIT, caches)
  const results = new Map<string, number[]>(servers.map((s) => [s.storage, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const { storage, server } of round % 2 ? servers : [...servers].reverse()) {
      const profiling = process.env.PROFILE && round === ROUNDS;
      const inspector = profiling ? new Session() : null;
      if (inspector) {
        inspector.connect();
        await inspector.post("Profiler.enable");
        await inspector.post("Profiler.start");
      }
      const us = await signIns(server, N);
      if (inspector) {
        const { profile } = await inspector.post("Profiler.stop");
        const file = path.join(process.env.PROFILE!, `signin-cpu-${storage}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
        console.log(`profile: ${file}`);
      }
      results.get(storage)!.push(us);
      console.log(`round ${round} ${storage}: ${us.toFixed(0)} µs CPU per sign-in`);
    }
  }
  for (const [storage, values] of results) {
    const sorted = [...values].sort((a, b) => a - b);
    console.log(`${storage}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} µs per sign-in`);
  }
  for (const { server } of servers) await server.close();
} finally {
  await http.close();
  await idp.proc.stop();
  pg?.stop();
}
