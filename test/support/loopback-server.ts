/**
 * A loopback HTTP server for the test doubles of outside services (the test IdP, the Cloudflare
 * Access double) that can be taken down the ways a real one fails, and brought back on the same port.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * How a "down" server misbehaves:
 * - `reset`: every request's socket is destroyed (the client sees ECONNRESET / "other side closed");
 * - `hang`: requests are accepted and never answered (the client's own timeout must fire);
 * - `refuse`: the listening socket is closed, new connections get ECONNREFUSED;
 * - `error`: every request gets a `503` (the body is the double's own, see `answerError`).
 */
export type DownMode = "reset" | "hang" | "refuse" | "error";

export interface LoopbackServerOptions {
  /** Sees every request, also the ones a down server refuses (for request logs). */
  onRequest?: (req: http.IncomingMessage) => void;
  /** Writes the `503` of the `error` mode; default an empty 503. */
  answerError?: (res: http.ServerResponse) => void;
}

export interface LoopbackServer {
  readonly server: http.Server;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** How the server is down, or null while it is up. */
  readonly down: DownMode | null;
  /** Take the server down / bring it back. Await it (`refuse` closes and re-opens the port). */
  setDown(down: boolean, mode?: DownMode): Promise<void>;
  /** Stops listening, ending held requests and open connections. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (a free port); `handler` answers every request while the server is up. */
export async function startLoopbackServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  options: LoopbackServerOptions = {},
): Promise<LoopbackServer> {
  let down: DownMode | null = null;
  const held = new Set<http.ServerResponse>();
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    options.onRequest?.(req);
    if (down === "hang") {
      held.add(res);
      res.on("close", () => held.delete(res));
      return;
    }
    if (down === "error") {
      res.statusCode = 503;
      if (options.answerError) options.answerError(res);
      else res.end();
      return;
    }
    if (down) {
      req.socket.destroy();
      return;
    }
    handler(req, res);
  });
  server.keepAliveTimeout = 1000;
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  const releaseHeld = () => {
    for (const res of held) res.destroy();
    held.clear();
  };

  await listen(0);
  const port = (server.address() as AddressInfo).port;

  return {
    server,
    port,
    origin: `http://127.0.0.1:${port}`,
    get down() {
      return down;
    },
    async setDown(isDown, mode = "reset") {
      const wasRefusing = down === "refuse";
      const next = isDown ? mode : null;
      if (next !== "hang") releaseHeld();
      down = next;
      if (wasRefusing && next !== "refuse") await listen(port);
      if (next === "refuse" && !wasRefusing) {
        await stopListening();
      } else if (next === "reset") {
        // idle keep-alive connections would otherwise still be reused by clients
        for (const socket of sockets) socket.destroy();
      }
    },
    async close() {
      releaseHeld();
      await stopListening();
    },
  };
}
