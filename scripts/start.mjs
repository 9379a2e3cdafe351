// `npm start`: builds only when the build is not current, then runs the server in this very process
// (package.json runs it with `exec`, so npm's child is the server and SIGTERM/SIGINT reach it).
//
// The build is current when dist/build-stamp.json (written by `npm run build`'s postbuild step) holds
// the hash of every build input: src/, web/, the TypeScript and Vite configuration, package-lock.json.
// Plain JavaScript: it runs before anything is compiled.
//
//   node scripts/start.mjs           build if needed, then start the server
//   node scripts/start.mjs --stamp   record the current inputs as built (postbuild)
//   node scripts/start.mjs --unstamp forget it (prebuild: a build that fails half-way is not current)
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const INPUTS = ["src", "web", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "vite.config.ts"];
const STAMP = path.join(root, "dist", "build-stamp.json");
const OUTPUTS = [path.join(root, "dist", "src", "main.js"), path.join(root, "dist", "web", "index.html")];

/** The files of one input: itself, or everything under it (a folder). */
function filesOf(relative) {
  const full = path.join(root, relative);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [relative];
  return readdirSync(full, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

/** One hash over the names and contents of every build input. */
export function inputsHash() {
  const hash = createHash("sha256");
  for (const file of INPUTS.flatMap(filesOf).sort()) {
    hash.update(file);
    hash.update("\0");
    hash.update(readFileSync(path.join(root, file)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

function builtHash() {
  try {
    return JSON.parse(readFileSync(STAMP, "utf8")).inputs;
  } catch {
    return null;
  }
}

function writeStamp(hash) {
  mkdirSync(path.dirname(STAMP), { recursive: true });
  writeFileSync(STAMP, `${JSON.stringify({ inputs: hash, builtAt: new Date().toISOString() })}\n`);
}

/** `npm run build`, passing a signal on while it runs; resolves with its exit status. */
function build() {
  return new Promise((resolve) => {
    const child = spawn("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
    const forward = (signal) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

if (process.argv.includes("--stamp")) {
  writeStamp(inputsHash());
} else if (process.argv.includes("--unstamp")) {
  rmSync(STAMP, { force: true });
} else {
  const hash = inputsHash();
  const current = builtHash() === hash && OUTPUTS.every((file) => existsSync(file));
  if (!current) {
    process.stdout.write("Building CoPilot (the server and the web pages; only when the sources changed)…\n");
    const status = await build();
    if (status !== 0) {
      process.stderr.write("CoPilot did not start: the build failed (see above).\n");
      process.exit(status);
    }
    writeStamp(hash); // the inputs as they were when the build began
  }
  // Before the server's modules are even loaded (their compilation is the burst it tames).
  await import(pathToFileURL(path.join(root, "dist", "src", "startup-memory.js")).href);
  await import(pathToFileURL(OUTPUTS[0]).href);
}
