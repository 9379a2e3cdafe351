/**
 * One benchmark process: `node --import tsx bench/child.ts <role>` started by `run.ts` with an IPC
 * channel. Each system under test gets its own process so that its peak memory is its own and a
 * CPU profile (BENCH_PROFILE=1) shows only its work. Roles: `idp` (fast-idp.ts), `reference`
 * (reference-app.ts), `copilot` (copilot-server.ts).
 *
 * Messages are `{ id, cmd, args }` → `{ id, ok, result | error }`. `start` starts the role,
 * `peakRss` answers the highest RSS since the last call (sampled every 50 ms) and resets it, `cpu`
 * the process's CPU time so far (user + system, ms),
 * `profileStart` / `profileStop {file}` record a CPU profile of this process (the V8 sampling profiler
 * through node:inspector — what `node --cpu-prof` records, for a chosen window only), `stop` closes the
 * role and exits; anything else is a command of the role.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import process from "node:process";
import { type CopilotServerOptions, startCopilotServer } from "./copilot-server.js";
import { type FastIdpOptions, startFastIdp } from "./fast-idp.js";
import { type ReferenceAppOptions, startReferenceApp } from "./reference-app.js";

export interface ChildMessage {
  id: number;
  cmd: string;
  args?: unknown;
}

export interface ChildReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

type Handlers = Record<string, (args: any) => Promise<unknown>>;

interface Started {
  info: unknown;
  handlers: Handlers;
  close(): Promise<void>;
}

const roles: Record<string, (args: any) => Promise<Started>> = {
  async idp(args: FastIdpOptions) {
    const idp = await startFastIdp(args);
    return {
      info: {
        issuer: idp.issuer,
        port: idp.port,
        discoveryUrl: idp.discoveryUrl,
        teamDomain: idp.teamDomain,
      },
      handlers: {
        async signCloudflare(a: { email: string; sub: string; aud: string }) {
          return idp.signCloudflare(a);
        },
      },
      close: idp.close,
    };
  },
  async reference(args: ReferenceAppOptions) {
    const app = await startReferenceApp(args);
    return { info: { origin: app.origin, port: app.port }, handlers: {}, close: app.close };
  },
  async copilot(args: CopilotServerOptions) {
    const server = await startCopilotServer(args);
    return { info: server.info, handlers: server.handlers as Handlers, close: server.close };
  },
};

const role = process.argv[2] ?? "";
let started: Started | null = null;
let leaving = false;
let profiler: Session | null = null;
let peak = process.memoryUsage.rss();
setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peak) peak = rss;
}, 50).unref();

function reply(message: ChildReply): void {
  process.send?.(message);
}

process.on("message", (message: ChildMessage) => {
  void (async () => {
    try {
      let result: unknown;
      if (message.cmd === "start") {
        const start = roles[role];
        if (!start) throw new Error(`unknown role ${role}`);
        started = await start(message.args);
        result = started.info;
      } else if (message.cmd === "peakRss") {
        result = Math.max(peak, process.memoryUsage.rss());
        peak = process.memoryUsage.rss();
      } else if (message.cmd === "cpu") {
        const { user, system } = process.cpuUsage();
        result = (user + system) / 1000;
      } else if (message.cmd === "profileStart") {
        profiler ??= new Session();
        profiler.connect();
        await profiler.post("Profiler.enable");
        await profiler.post("Profiler.setSamplingInterval", { interval: 500 });
        await profiler.post("Profiler.start");
        result = null;
      } else if (message.cmd === "profileStop") {
        if (!profiler) throw new Error("no profile is being recorded");
        const { profile } = await profiler.post("Profiler.stop");
        writeFileSync((message.args as { file: string }).file, JSON.stringify(profile));
        profiler.disconnect();
        result = null;
      } else if (message.cmd === "stop") {
        leaving = true;
        await started?.close();
        reply({ id: message.id, ok: true, result: null });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 50);
        return;
      } else {
        const handler = started?.handlers[message.cmd];
        if (!handler) throw new Error(`${role}: unknown command ${message.cmd}`);
        result = await handler(message.args);
      }
      reply({ id: message.id, ok: true, result });
    } catch (err) {
      reply({
        id: message.id,
        ok: false,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
    }
  })();
});

// The parent went away (Ctrl-C, crash): clean up (temporary database, CPU profile) and leave.
const leave = () => {
  if (leaving) return;
  leaving = true;
  const done = () => process.exit(0);
  setTimeout(done, 5000).unref();
  void (started?.close() ?? Promise.resolve()).catch(() => {}).then(done);
};
process.on("SIGINT", leave);
process.on("SIGTERM", leave);
process.on("disconnect", () => setTimeout(leave, 1000).unref());
