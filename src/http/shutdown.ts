/**
 * Graceful shutdown (issue 13 §4). On the first SIGTERM/SIGINT:
 *   1. readiness turns 503 at once, so a load balancer takes the node out;
 *   2. for the drain window (SHUTDOWN_DRAIN_SECONDS) every request is still served — those already
 *      received and those arriving meanwhile — each answer with `Connection: close`, so keep-alive
 *      clients reconnect elsewhere;
 *   3. then the server stops accepting, closes idle connections, finishes the requests in flight
 *      (Fastify answers any later one on a still open connection with 503 + `Connection: close`),
 *      and the database and the rest are closed;
 *   4. the process exits with status 0 — at the latest SHUTDOWN_TIMEOUT_SECONDS after the signal,
 *      cutting what is still open then.
 * A second signal skips the rest of the drain window (an operator pressing Ctrl-C twice).
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";

export interface ShutdownOptions {
  drainMs: number;
  timeoutMs: number;
  log: Logger;
  /** Closes the HTTP server, then everything behind it (database last). */
  stop: () => Promise<void>;
  exit: (code: number) => void;
}

/**
 * The signal handler. `skipDrain`: no drain window (a signal that arrived while the server was still
 * starting, when nobody could have been sent here yet).
 */
export function gracefulShutdown(
  app: FastifyInstance,
  options: ShutdownOptions,
): (signal: string, skipDrain?: boolean) => void {
  let startedAt: number | null = null;
  let endDrain: (() => void) | null = null;
  return (signal, skipDrain = false) => {
    if (startedAt !== null) {
      // A terminal's Ctrl-C reaches npm and the server at once, and npm passes it on: a second
      // signal counts only when it comes a moment later.
      if (Date.now() - startedAt < 1000) return;
      options.log.info({ signal }, "second signal: ending the drain now");
      endDrain?.();
      return;
    }
    startedAt = Date.now();
    app.lifecycle.draining = true;
    options.log.info(
      { signal, drainSeconds: options.drainMs / 1000, timeoutSeconds: options.timeoutMs / 1000 },
      "shutting down: not ready any more, serving the requests of the drain window",
    );
    const deadline = setTimeout(() => {
      options.log.warn("shutdown took too long: closing the connections still open");
      app.server.closeAllConnections();
      options.exit(0);
    }, options.timeoutMs);
    deadline.unref();
    void (async () => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, skipDrain ? 0 : options.drainMs);
        endDrain = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      app.lifecycle.closing = true;
      try {
        await options.stop();
        options.log.info("shut down");
        options.exit(0);
      } catch (err) {
        options.log.error({ err }, "shutdown failed");
        options.exit(1);
      }
    })();
  };
}
