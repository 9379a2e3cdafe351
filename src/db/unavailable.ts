/**
 * Is this error "the database cannot be reached right now" rather than a fault of the request or of
 * our code? Such errors pass by themselves (a restart, a failover, a network blip): the HTTP layer
 * answers them with 503 + Retry-After (API) or the login page's `sso_failed` (browsers), never 500.
 *
 * Recognised: socket errors (refused, reset, timed out, unreachable, DNS), node-postgres's own
 * connection errors (connection terminated, the pool's connect timeout, the query read timeout, a
 * client that lost its connection), and the server's SQLSTATEs for the same: class 08 (connection
 * exception), 57P01–57P05 (admin/crash shutdown, cannot connect now, idle session timeout), 53300
 * (too many connections) and 57014 (statement cancelled, e.g. by statement_timeout).
 */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

const SQLSTATES = new Set(["57P01", "57P02", "57P03", "57P04", "57P05", "53300", "57014"]);

const DRIVER_MESSAGES = [
  /^Connection terminated/, // unexpectedly, or due to connection timeout
  /^timeout exceeded when trying to connect$/, // pg-pool connectionTimeoutMillis
  /^Query read timeout$/, // pg query_timeout
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
];

export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (depth > 4 || err === null || typeof err !== "object") return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  if (SOCKET_CODES.has(code) || SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  const message = typeof e.message === "string" ? e.message : "";
  if (!code && DRIVER_MESSAGES.some((m) => m.test(message))) return true;
  // Node's happy-eyeballs connect fails with an AggregateError of each address's error. (An error's
  // `cause` is not followed: fetch wraps an IdP's refused connection that way, and an IdP that is
  // down is an SSO failure, not an outage of ours.)
  return Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1));
}

/** Seconds a client is asked to wait (Retry-After) while the database is unavailable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;
