/**
 * Summarizes a V8 CPU profile (`.cpuprofile`, from `node --cpu-prof` or BENCH_PROFILE=1):
 *
 *   node_modules/.bin/tsx bench/profile-summary.ts <file.cpuprofile> [--top 25] [--focus <text>]
 *
 * prints where the busy (non-idle) time went: by module (a node_modules package, a src/ file, node's
 * internals, WebAssembly, GC), the top functions by self time, and the top functions by total time
 * (self + callees, recursion counted once). `--focus` keeps only samples whose stack contains a
 * function or file matching the text (e.g. `--focus flow-routes`).
 */
import { readFileSync } from "node:fs";
import path from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!file) {
  process.stderr.write("usage: tsx bench/profile-summary.ts <file.cpuprofile> [--top N] [--focus text]\n");
  process.exit(2);
}
const TOP = Number(opt("top") ?? 25);
const FOCUS = opt("focus");

const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

function moduleOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === "(garbage collector)") return "(gc)";
    if (functionName.startsWith("(")) return functionName;
    return "(native)";
  }
  if (url.startsWith("wasm://")) return "(webassembly: PGlite, undici llhttp)";
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  const clean = url.replace(/^file:\/\//, "");
  const nm = clean.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = clean.slice(nm + "/node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const at = clean.search(/\/(src|bench|test|demo)\//);
  return at >= 0 ? clean.slice(at + 1) : path.basename(clean);
}

const keyOf = (f: CallFrame) =>
  `${f.functionName || "(anonymous)"}  ${moduleOf(f)}${f.url && !f.url.startsWith("wasm") ? `:${f.lineNumber + 1}` : ""}`;

function stackOf(id: number): ProfileNode[] {
  const stack: ProfileNode[] = [];
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push(byId.get(cur)!);
  return stack;
}

const self = new Map<string, number>();
const total = new Map<string, number>();
const modules = new Map<string, number>();
let busy = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
  const node = byId.get(profile.samples[i]!)!;
  const name = node.callFrame.functionName;
  if (name === "(idle)" || name === "(program)" || name === "(root)") {
    if (name === "(idle)") idle += dt;
    continue;
  }
  const stack = stackOf(node.id);
  if (FOCUS && !stack.some((n) => keyOf(n.callFrame).includes(FOCUS))) continue;
  busy += dt;
  const k = keyOf(node.callFrame);
  self.set(k, (self.get(k) ?? 0) + dt);
  const mod = moduleOf(node.callFrame);
  modules.set(mod, (modules.get(mod) ?? 0) + dt);
  const seen = new Set<string>();
  for (const n of stack) {
    const key = keyOf(n.callFrame);
    if (seen.has(key) || key.startsWith("(root)")) continue;
    seen.add(key);
    total.set(key, (total.get(key) ?? 0) + dt);
  }
}

const wall = (profile.endTime - profile.startTime) / 1000;
const pct = (v: number) => `${((100 * v) / busy).toFixed(1).padStart(5)} %`;
const msOf = (v: number) => `${v.toFixed(0).padStart(7)} ms`;
const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);

const out: string[] = [
  `${path.basename(file)}: ${wall.toFixed(0)} ms recorded, ${busy.toFixed(0)} ms busy${FOCUS ? ` in stacks matching "${FOCUS}"` : ""}, ${idle.toFixed(0)} ms idle`,
  "",
  "busy time by module:",
  ...top(modules, TOP).map(([k, v]) => `  ${pct(v)} ${msOf(v)}  ${k}`),
  "",
  "top functions by self time:",
  ...top(self, TOP).map(([k, v]) => `  ${pct(v)} ${msOf(v)}  ${k}`),
  "",
  "top functions by total time (self + callees):",
  ...top(total, TOP).map(([k, v]) => `  ${pct(v)} ${msOf(v)}  ${k}`),
];
process.stdout.write(`${out.join("\n")}\n`);
