/**
 * CoPilot exactly as an operator runs it: `node scripts/start.mjs` (what `npm start` runs; with a
 * current build it imports dist/src/main.js in the same process), configured by environment variables only. Its memory is read from
 * /proc (VmRSS now, VmHWM the peak since start or since `resetPeak`).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../scripts/postgres.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** What `npm start` runs: the launcher (the build is current: no rebuild), which imports the server. */
const MAIN = path.join(ROOT, "scripts", "start.mjs");

/** `npm run build` once per run (the server processes run the build, as `npm start` does). */
export function buildOnce(log: (m: string) => void): void {
  log("building (npm run build) for the server processes");
  const r = spawnSync("npm", ["run", "build", "--silent"], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) throw new Error("npm run build failed");
}

/** The node options of package.json's start script (`exec node <options> scripts/start.mjs`). */
export function startNodeArgs(): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    scripts: { start: string };
  };
  const match = /\bnode\s+(.*?)\s*scripts\/start\.mjs/.exec(pkg.scripts.start);
  return match?.[1] ?? "";
}

export interface ServerProcess {
  pid: number;
  port: number;
  /** Milliseconds from spawn to the first 200 of /healthz. */
  readyMs: number;
  rss(): number;
  peak(): number;
  /** Restarts the peak (VmHWM) from the current RSS. */
  resetPeak(): void;
  stop(): Promise<void>;
}

function statusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0) * 1024;
}

export async function startServer(
  env: Record<string, string>,
  nodeArgs: string[] = [],
  chosenPort?: number,
): Promise<ServerProcess> {
  const port = chosenPort ?? (await freePort());
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOST: "127.0.0.1",
      PORT: String(port),
      PUBLIC_URL: `http://localhost:${port}`,
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let ready = false;
  for (let i = 0; i < 1200 && !ready; i++) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before answering`);
    try {
      ready = (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
    } catch {}
    if (!ready) await new Promise((r) => setTimeout(r, 50));
  }
  if (!ready) {
    child.kill("SIGKILL");
    throw new Error("the server did not answer /healthz within 60 s");
  }
  const pid = child.pid!;
  return {
    pid,
    port,
    readyMs: performance.now() - t0,
    rss: () => statusKb(pid, "VmRSS"),
    peak: () => statusKb(pid, "VmHWM"),
    resetPeak: () => writeFileSync(`/proc/${pid}/clear_refs`, "5"),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
