/**
 * The benchmark's processes, each started the way its users run it (issue 15):
 *
 *   spawnRole     CoPilot (`copilot`) and the benchmark IdP (`idp`): the compiled `dist/bench/child.js`
 *                 (`buildBench` compiles it next to `npm run build`'s dist/src, which it imports) run by
 *                 plain `node` with `NODE_ENV=production`; CoPilot also with npm start's node options
 *                 and its startup preload. An IPC channel carries the seeding and session commands
 *                 between rounds; nothing of the harness runs while a round is measured.
 *   spawnPlain    the reference: `NODE_ENV=production node bench/reference-app.mjs`, nothing else in
 *                 its process (no IPC, no loader); it reports its origin on stdout.
 *
 * CPU time (user + system, all threads) and peak RSS (VmHWM, reset through clear_refs) come from
 * /proc for every process alike, so the measured process runs no measuring code.
 */
import { type ChildProcess, fork, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ChildMessage, ChildReply } from "./child.js";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, whether this file runs from bench/ (tsx) or from dist/bench/ (compiled). */
const ROOT = BENCH_DIR.endsWith(`${path.sep}dist${path.sep}bench`)
  ? path.resolve(BENCH_DIR, "../..")
  : path.resolve(BENCH_DIR, "..");
const COMPILED_CHILD = path.join(ROOT, "dist", "bench", "child.js");
const STARTUP_PRELOAD = path.join(ROOT, "dist", "src", "startup-memory.js");
export const REFERENCE_APP = path.join(ROOT, "bench", "reference-app.mjs");

/** Compiles bench/ (and what it imports) into dist/ with the build's compiler options. */
export function buildBench(log: (m: string) => void): void {
  log("compiling the benchmark's processes (tsc -p bench/tsconfig.json → dist/bench)");
  const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", path.join(ROOT, "bench", "tsconfig.json")], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error("compiling bench/ failed");
}

export interface BenchProcess {
  role: string;
  pid: number;
  call<T = unknown>(cmd: string, args?: unknown): Promise<T>;
  /** Highest RSS (bytes) since the previous call (or the start). */
  peakRss(): Promise<number>;
  /** CPU time (user + system, all threads, ms) the process used so far. */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** utime + stime of a process (all its threads), from /proc/<pid>/stat, in ms. */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

function statusBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0) * 1024;
}

/** The peak since the last call, then a new peak from the current RSS (clear_refs 5 resets VmHWM). */
function takePeak(pid: number): number {
  const peak = Math.max(statusBytes(pid, "VmHWM"), statusBytes(pid, "VmRSS"));
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
  return peak;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGTERM");
});

function profileArgs(role: string, profileDir: string | undefined): string[] {
  return profileDir
    ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${role}-\${pid}.cpuprofile`]
    : [];
}

function childEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "production" };
}

export async function spawnRole<Info>(
  role: "idp" | "copilot",
  startArgs: unknown,
  options: { profileDir?: string; nodeArgs?: string[] } = {},
): Promise<{ proc: BenchProcess; info: Info }> {
  const execArgv = [
    ...(role === "copilot" ? [...(options.nodeArgs ?? []), "--import", STARTUP_PRELOAD] : []),
    ...profileArgs(role, options.profileDir),
  ];
  const child = fork(COMPILED_CHILD, [role], {
    execArgv,
    env: childEnv(),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
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
  const pid = child.pid ?? 0;
  const proc: BenchProcess = {
    role,
    pid,
    call,
    peakRss: async () => takePeak(pid),
    cpuMs: async () => procCpuMs(pid),
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

/**
 * A plain program (`node <script>`, NODE_ENV=production, the given environment): its first stdout
 * line is its JSON info. It has no commands; SIGTERM stops it.
 */
export async function spawnPlain<Info>(
  role: string,
  script: string,
  env: Record<string, string>,
  options: { profileDir?: string; nodeArgs?: string[] } = {},
): Promise<{ proc: BenchProcess; info: Info }> {
  const args = [...(options.nodeArgs ?? []), ...profileArgs(role, options.profileDir), script];
  const child = spawn(process.execPath, args, {
    env: { ...childEnv(), ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  live.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      live.delete(child);
      resolve();
    }),
  );
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<Info>((resolve, reject) => {
    lines.once("line", (line) => {
      try {
        resolve(JSON.parse(line) as Info);
      } catch (err) {
        reject(err);
      }
    });
    child.once("exit", (code) => reject(new Error(`${role} exited (${code}) before it listened`)));
  });
  lines.on("line", (line) => process.stderr.write(`${role}: ${line}\n`));
  const pid = child.pid ?? 0;
  return {
    info,
    proc: {
      role,
      pid,
      call: async (cmd) => {
        throw new Error(`${role} takes no commands (${cmd})`);
      },
      peakRss: async () => takePeak(pid),
      cpuMs: async () => procCpuMs(pid),
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      },
    },
  };
}
