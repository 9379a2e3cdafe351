/**
 * Structured JSON logs (pino). No secret, token, code or password ever reaches a log line:
 * headers that carry them are redacted, and URLs are logged with credential-bearing query
 * parameters (the OIDC `code`, `state`, tokens) masked.
 */
import pino, { type Logger } from "pino";

const SENSITIVE_QUERY =
  /([?&](?:code|state|id_token|access_token|refresh_token|token|session_state|password|secret)=)[^&#]*/gi;

export function maskUrl(url: string): string {
  return url.replace(SENSITIVE_QUERY, "$1[REDACTED]");
}

export const REDACT_PATHS = [
  "req.headers.cookie",
  "req.headers.authorization",
  'req.headers["cf-access-jwt-assertion"]',
  'res.headers["set-cookie"]',
  "*.password",
  "*.clientSecret",
  "*.client_secret",
  "*.secret",
  "*.token",
  "*.code",
  "*.backupCode",
  "*.idToken",
  "*.id_token",
  "*.accessToken",
  "*.access_token",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
      serializers: {
        req(req: { method: string; url: string; hostname?: string; ip?: string; id?: string }) {
          return { id: req.id, method: req.method, url: maskUrl(req.url), host: req.hostname, ip: req.ip };
        },
      },
    },
    destination,
  );
}
