/**
 * Local-only control channel. Embedded PGlite files can be opened by one process, so while the
 * server runs, the CLI sends its command here instead of opening the database: a Unix socket in
 * DATA_DIR, mode 0600 (only the user running the server can connect), speaking one JSON request.
 */
import { chmodSync, rmSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { type CliContext, CliError, runCommand } from "./commands.js";

export function controlSocketPath(dataDir: string): string {
  return path.join(dataDir, "control.sock");
}

export async function startControlServer(ctx: CliContext, dataDir: string): Promise<() => Promise<void>> {
  const socketPath = controlSocketPath(dataDir);
  rmSync(socketPath, { force: true });
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    res.setHeader("content-type", "application/json");
    try {
      const { argv } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { argv: string[] };
      const result = await runCommand(ctx, argv);
      res.end(JSON.stringify({ ok: true, result }));
    } catch (err) {
      const message =
        err instanceof CliError ? err.message : "the server could not run this command (see its log)";
      if (!(err instanceof CliError)) console.error(err);
      res.end(JSON.stringify({ ok: false, error: message }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  chmodSync(socketPath, 0o600);
  return () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      rmSync(socketPath, { force: true });
    });
}

export async function sendToServer(
  dataDir: string,
  argv: string[],
): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  const body = JSON.stringify({ argv });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: controlSocketPath(dataDir),
        path: "/",
        method: "POST",
        headers: { "content-type": "application/json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
