/**
 * One benchmark process: the compiled `node dist/bench/child.js <role>` started by `processes.ts` with
 * an IPC channel. Each system under test gets its own process so that its CPU time and peak memory
 * (read from /proc by the parent) are its own and a CPU profile (BENCH_PROFILE=1) shows only its
 * work. Roles: `idp` (fast-idp.ts), `copilot` (copilot-server.ts); the reference is a plain program
 * of its own (reference-app.mjs).
 *
 * Messages are `{ id, cmd, args }` → `{ id, ok, result | error }`. `start` starts the role,
 * `profileStart` / `profileStop {file}` record a CPU profile of this process (the V8 sampling profiler
 * through node:inspector — what `node --cpu-prof` records, for a chosen window only), `stop` closes the
 * role and exits; anything else is a command of the role.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import process from "node:process";
import { type CopilotServerOptions, startCopilotServer } from "./copilot-server.js";
import { type FastIdpOptions, startFastIdp } from "./fast-idp.js";

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
  async copilot(args: CopilotServerOptions) {
    const server = await startCopilotServer(args);
    return { info: server.info, handlers: server.handlers as Handlers, close: server.close };
  },
};

const role = process.argv[2] ?? "";
let started: Started | null = null;
let leaving = false;
let profiler: Session | null = null;

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
