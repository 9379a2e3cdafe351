/**
 * CPU per request inside one process, without sockets: the ceiling route against GET /api/auth/me
 * with a session, through Fastify's inject (light-my-request). The kernel's share of a real request
 * (socket reads and writes, which a loaded two-core machine inflates) is left out, so the difference
 * between the two rows is what authentication itself costs. Not part of `npm run bench`'s tables.
 *
 *   node --import tsx bench/request-cpu.ts                      ratios, three rounds
 *   PROFILE=/api/auth/me OUT=me.cpuprofile node --import tsx bench/request-cpu.ts
 *                                                               a CPU profile of one route's loop
 *                                                               (CLOUDFLARE=1: the Cloudflare session's)
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { MAIN_DOMAIN, startCopilotServer } from "./copilot-server.js";
import { startFastIdp } from "./fast-idp.js";

const CLIENT_SECRET = "bench-secret-".padEnd(40, "x");
const AUD_TAG = "a".repeat(64);
const idp = await startFastIdp({ clientId: "bench-client", clientSecret: CLIENT_SECRET });
const server = await startCopilotServer({
  storage: "pglite",
  idp: {
    discoveryUrl: idp.discoveryUrl,
    clientId: "bench-client",
    clientSecret: CLIENT_SECRET,
    teamDomain: idp.teamDomain,
  },
  audTag: AUD_TAG,
  initialUsers: 10,
  logLevel: "warn",
});
const host = `${MAIN_DOMAIN}:${server.info.port}`;
const { token } = await server.handlers.session();
const session = { host, cookie: `copilot_session=${token}`, accept: "application/json" };
// A session Cloudflare Access started, and the assertion Access adds to each of its requests.
const assertion = idp.signCloudflare({ email: "user1@bench.test", sub: "sub-1", aud: AUD_TAG });
const started = await server.inject({
  method: "GET",
  url: "/login/sso/cloudflare",
  headers: { host, "cf-access-jwt-assertion": assertion },
});
const cfCookie = started.cookies.find((c) => c.name === "copilot_session");
if (!cfCookie) throw new Error(`the Cloudflare sign-in answered ${started.statusCode}: ${started.body}`);
const cloudflare = {
  host,
  cookie: `copilot_session=${cfCookie.value}`,
  "cf-access-jwt-assertion": assertion,
  accept: "application/json",
};

/** Mean CPU time (user + system) of one request, in µs. */
async function cpuPerRequest(url: string, n: number, headers: Record<string, string>): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const res = await server.inject({ method: "GET", url, headers });
    if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
    // inject completes within microtasks: without a turn of the event loop, the streams'
    // setImmediate callbacks of every request would pile up (and their requests with them).
    if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / n;
}

try {
  const only = process.env.PROFILE;
  const profiled = process.env.CLOUDFLARE === "1" ? cloudflare : session;
  if (only) {
    await cpuPerRequest(only, 2_000, profiled);
    const inspector = new Session();
    inspector.connect();
    await inspector.post("Profiler.enable");
    await inspector.post("Profiler.start");
    const us = await cpuPerRequest(only, 30_000, profiled);
    const { profile } = await inspector.post("Profiler.stop");
    writeFileSync(process.env.OUT ?? "request.cpuprofile", JSON.stringify(profile));
    console.log(`${only}: ${us.toFixed(1)} µs CPU per request (profiled)`);
  } else {
    // Each pair: the ceiling with exactly the authenticated request's headers, then that request.
    const pairs = [
      { name: "session cookie", headers: session },
      { name: "Cloudflare session + assertion", headers: cloudflare },
    ];
    for (const { headers } of pairs) {
      await cpuPerRequest("/api/bench/ceiling", 2_000, headers);
      await cpuPerRequest("/api/auth/me", 2_000, headers);
    }
    for (let round = 1; round <= 3; round++) {
      for (const { name, headers } of pairs) {
        const ceiling = await cpuPerRequest("/api/bench/ceiling", 20_000, headers);
        const me = await cpuPerRequest("/api/auth/me", 20_000, headers);
        console.log(
          `round ${round}, ${name}: ceiling ${ceiling.toFixed(1)} µs · /api/auth/me ${me.toFixed(1)} µs · ` +
            `authentication ${(me - ceiling).toFixed(1)} µs · ratio ${(ceiling / me).toFixed(2)}×`,
        );
      }
    }
  }
} finally {
  await server.close();
  await idp.close();
}
