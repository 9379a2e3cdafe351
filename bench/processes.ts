/** The parent side of `child.ts`: start a role in its own Node process and talk to it over IPC. */
import { type ChildProcess, fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildMessage, ChildReply } from "./child.js";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "child.ts");

export interface BenchProcess {
  role: string;
  pid: number;
  call<T = unknown>(cmd: string, args?: unknown): Promise<T>;
  /** Highest RSS (bytes) since the previous call. */
  peakRss(): Promise<number>;
  /** CPU time (user + system, ms) the process used so far. */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGTERM");
});

export async function spawnRole<Info>(
  role: string,
  startArgs: unknown,
  options: { profileDir?: string } = {},
): Promise<{ proc: BenchProcess; info: Info }> {
  const execArgv = ["--import", "tsx"];
  if (options.profileDir) {
    execArgv.push(
      "--cpu-prof",
      `--cpu-prof-dir=${options.profileDir}`,
      `--cpu-prof-name=${role}-\${pid}.cpuprofile`,
    );
  }
  const child = fork(CHILD, [role], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  live.add(child);
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on("message", (m: ChildReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`${role}: ${m.error}`));
  });
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(child);
      for (const p of pending.values()) p.reject(new Error(`${role} exited (${code ?? signal})`));
      pending.clear();
      resolve();
    });
  });
  const call = <T>(cmd: string, args?: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, cmd, args } satisfies ChildMessage);
    });
  const proc: BenchProcess = {
    role,
    pid: child.pid ?? 0,
    call,
    peakRss: () => call<number>("peakRss"),
    cpuMs: () => call<number>("cpu"),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await call("stop").catch(() => {});
      await exited;
    },
  };
  try {
    const info = await call<Info>("start", startArgs);
    return { proc, info };
  } catch (err) {
    child.kill("SIGTERM");
    throw err;
  }
}
