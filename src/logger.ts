/**
 * Structured JSON logs (pino). No secret, token, code or password ever reaches a log line:
 * headers that carry them are redacted, and URLs are logged with credential-bearing query
 * parameters (the OIDC `code`, `state`, tokens; SAML's messages, RelayState and the ACS's one-time
 * continue handle `h`) masked.
 */
import pino, { type Logger } from "pino";

const SENSITIVE_QUERY =
  /([?&](?:code|state|id_token|access_token|refresh_token|token|session_state|password|secret|h|SAMLRequest|SAMLResponse|RelayState|Signature)=)[^&#]*/gi;

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
  // Codes by their paths only (a bare `*.code` would also hide `sso.code`, the SPEC §4 failure
  // code, and Node's error codes): the OIDC authorization code of a callback's query, and a
  // second-factor code of a request body, wherever a query or body is logged.
  "req.query.code",
  "query.code",
  "*.query.code",
  "req.body.code",
  "body.code",
  "*.body.code",
  "*.authorizationCode",
  "*.authorization_code",
  "*.backupCode",
  "*.SAMLResponse",
  "*.RelayState",
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
