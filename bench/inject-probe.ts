import { startCopilotServer, MAIN_DOMAIN } from "./copilot-server.js";
import { startFastIdp } from "./fast-idp.js";
const idp = await startFastIdp({ clientId: "c", clientSecret: "s".repeat(32) });
const server = await startCopilotServer({
  storage: "pglite",
  idp: {
    discoveryUrl: idp.discoveryUrl,
    clientId: "c",
    clientSecret: "s".repeat(32),
    teamDomain: idp.teamDomain,
  },
  audTag: "a".repeat(64),
  initialUsers: 10,
  logLevel: "warn",
});
const { token } = await server.handlers.session();
const host = `${MAIN_DOMAIN}:${server.info.port}`;
async function measure(url: string, headers: Record<string, string>, n: number) {
  for (let i = 0; i < 2000; i++) await server.inject({ method: "GET", url, headers });
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const r = await server.inject({ method: "GET", url, headers });
    if (r.statusCode !== 200) throw new Error(String(r.statusCode));
  }
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / n;
}
if (process.env.ONLY) {
  const { Session } = await import("node:inspector/promises");
  const { writeFileSync } = await import("node:fs");
  await measure(process.env.ONLY, { host, cookie: `copilot_session=${token}` }, 2000);
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  const us = await measure(process.env.ONLY, { host, cookie: `copilot_session=${token}` }, 30000);
  const { profile } = await session.post("Profiler.stop");
  writeFileSync(process.env.OUT ?? "/tmp/prof/probe.cpuprofile", JSON.stringify(profile));
  console.log(process.env.ONLY, us.toFixed(1), "µs/op");
  await server.close();
  await idp.close();
  process.exit(0);
}
for (let round = 0; round < 3; round++) {
  const ceil = await measure("/bench/ceiling", { host, cookie: `copilot_session=${token}` }, 20000);
  const me = await measure("/api/auth/me", { host, cookie: `copilot_session=${token}` }, 20000);
  console.log(
    `ceiling ${ceil.toFixed(1)} µs  me ${me.toFixed(1)} µs  extra ${(me - ceil).toFixed(1)} µs  ratio ${(ceil / me).toFixed(2)}`,
  );
}
await server.close();
await idp.close();
process.exit(0);
