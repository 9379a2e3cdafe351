/** Small JWT-building helpers shared by the test IdP and the Cloudflare Access test double. */
import { base64url } from "jose";

/** base64url of a value's JSON: one JWS header or payload segment. */
export function b64json(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

/** `base` with `patch` merged in; an `undefined` value in the patch removes that claim. */
export function applyPatch(
  base: Record<string, unknown>,
  patch: Record<string, unknown> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete out[key];
    else out[key] = value;
  }
  return out;
}
