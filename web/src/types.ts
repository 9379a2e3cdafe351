/** Shapes of the HTTP API (docs/api-contract.md). */

import type { Static } from "@sinclair/typebox";
// Types only (erased from the bundle): the API's own schema of a user is the one definition.
import type { UserSchema } from "../../src/http/schemas.js";
import type { ConnectionSchema } from "../../src/sso/admin-routes.js";
import type { TracePageSchema, TraceSchema, TraceSummarySchema } from "../../src/sso/traces.js";

/** A person of the agency, as the API sends it. */
export type User = Static<typeof UserSchema>;

export type Role = User["role"];

export interface Agency {
  id: string;
  name: string;
  slug: string;
  plan: "starter" | "pro";
  domain: string | null;
}

export interface Session {
  user: User;
  agency: Agency;
}

export type { ConnectionType } from "../../src/db/schema.js";

import type { ConnectionType } from "../../src/db/schema.js";

export interface SsoMethod {
  id: string;
  name: string;
  type: ConnectionType;
}

export interface AuthMethods {
  agency: { name: string; slug: string } | null;
  homeRealmDiscovery: boolean;
  password: boolean;
  google: boolean;
  sso: SsoMethod[];
  hideOtherLoginMethods: boolean;
}

export type LoginResponse =
  | { user: User; mfaRequired?: undefined; mfaEnrollmentRequired?: undefined }
  | { mfaRequired: true; user?: undefined; mfaEnrollmentRequired?: undefined }
  | { mfaEnrollmentRequired: true; user?: undefined; mfaRequired?: undefined };

export type TestStatus = "pending" | "passed" | "failed" | "expired";

export interface SsoTest {
  id: string;
  status: TestStatus;
  errorCode: string | null;
  message: string | null;
  diagnostic: {
    step: string | null;
    idpError: string | null;
    claimNames: string[];
    detail?: string;
    /** SPEC §13: the groups received and what they would give. */
    groups?: GroupsOutcome;
  } | null;
  matchedUserId: string | null;
  startedBy: { id: string; email: string } | null;
  startedAt: string;
  finishedAt: string | null;
  /** The connection trace the test left (SPEC §17), once it finished. */
  traceId: string | null;
}

/** A saved connection, as the API sends it (its fields per kind are the server's). */
export type Connection = Static<typeof ConnectionSchema>;

/** One SSO attempt of a connection (SPEC §17), as the traces API sends it. */
export type TraceSummary = Static<typeof TraceSummarySchema>;
export type Trace = Static<typeof TraceSchema>;
export type TracePage = Static<typeof TracePageSchema>;

export type ProvisioningPolicy = "existing-users" | "allowlist";

export interface SsoSettings {
  enabled: boolean;
  hideOtherLoginMethods: boolean;
  provisioning: ProvisioningPolicy;
}

export interface SsoOverview {
  prerequisites: { met: boolean; reasons: string[] };
  settings: SsoSettings;
  connections: Connection[];
  defaultRedirectUrl: string;
}

export interface AllowedEmail {
  id: string;
  email: string;
  role: Role;
  createdAt: string;
}

/** SPEC §13: what a test's groups would give. */
export interface GroupsOutcome {
  received: string[];
  matched: string[];
  role: Role | null;
  subAccountIds: string[];
  allowed: boolean;
}

/** SPEC §13: a row of a connection's group mappings. */
export interface GroupMapping {
  id: string;
  connectionId: string;
  group: string;
  role: Role | null;
  subAccountIds: string[];
  createdAt: string;
  updatedAt: string;
}

export interface SubAccount {
  id: string;
  name: string;
  memberCount: number;
}

export type TokenScope = "users.readonly" | "users.write";

export interface IntegrationToken {
  id: string;
  name: string;
  scopes: TokenScope[];
  prefix: string;
  createdBy: { id: string; email: string } | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface AuditEntry {
  id: string;
  at: string;
  action: string;
  outcome: "success" | "failure";
  actor: { type: string; id: string | null; label: string | null };
  target: { type: string; id: string | null } | null;
  ip: string | null;
  details: Record<string, unknown> | null;
}

export interface TwoFactorState {
  enabled: boolean;
  backupCodesRemaining: number;
}

export interface TwoFactorSetup {
  otpauthUri: string;
  secret: string;
  qrCode: string;
}
