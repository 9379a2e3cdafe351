/**
 * The connection kinds: the one list (a new kind is one module plus one line here).
 */
import type { ConnectionMapping, ConnectionType } from "../../db/schema.js";
import { azureKind } from "./azure.js";
import { cloudflareAccessKind } from "./cloudflare-access.js";
import { googleKind } from "./google.js";
import type { ConnectionKind } from "./kind.js";
import { oidcKind } from "./oidc.js";
import type { KindDescription } from "./wizard.js";

export const KINDS = {
  oidc: oidcKind,
  azure: azureKind,
  google: googleKind,
  "cloudflare-access": cloudflareAccessKind,
} as const satisfies Record<ConnectionType, ConnectionKind>;

export const CONNECTION_TYPES = Object.keys(KINDS) as ConnectionType[];

export function isConnectionType(value: unknown): value is ConnectionType {
  return typeof value === "string" && Object.hasOwn(KINDS, value);
}

export function kindOf(type: ConnectionType): ConnectionKind {
  return KINDS[type];
}

export const DEFAULT_MAPPINGS = Object.fromEntries(
  CONNECTION_TYPES.map((t) => [t, KINDS[t].defaultMapping]),
) as Record<ConnectionType, ConnectionMapping>;

/** What the setup wizard renders (GET /api/admin/sso/kinds), in the list's order. */
export function kindDescriptions(): KindDescription[] {
  return CONNECTION_TYPES.map((type) => ({
    type,
    defaultMapping: KINDS[type].defaultMapping,
    ...KINDS[type].wizard,
  }));
}
