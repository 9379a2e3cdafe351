/**
 * What a connection kind is (SPEC §3, §4, §5, §7): everything that differs between OIDC, Azure,
 * Google, Cloudflare Access (and SAML next) sits behind this one interface; everything that does
 * not (mapping, resolution, policy, 2FA, the test record, audit, traces) is the settle pipeline's
 * (sso/settle.ts). The list of kinds is written once, in kinds/index.ts.
 *
 *   fields / normalize   the API fields the kind takes, with defaults and validation (422 naming
 *                        the field); the fields of other kinds are refused by the caller
 *   wizard               the setup wizard's description, served to the web UI by the server
 *   start                how a flow begins: the URL the browser goes to (the IdP, or for
 *                        Cloudflare Access the page behind Access)
 *   complete             how a flow ends at the IdP: a vouched identity (the attributes received
 *                        and the protocol facts a trace records) or a typed failure
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Insertable, Selectable } from "kysely";
import type { AppContext } from "../../context.js";
import type { ConnectionMapping, ConnectionType, SsoConnectionsTable } from "../../db/schema.js";
import type { SsoErrorCode } from "../messages.js";
import type { SsoStep } from "../oidc.js";
import type { ConnectionInput, NormalizedConnection } from "./fields.js";
import type { KindWizard } from "./wizard.js";

export type ConnectionRow = Selectable<SsoConnectionsTable>;

/** What a flow is for, as the state (or the test record) carries it: no test id without a test. */
export type FlowPurpose = { purpose: "login"; returnTo: string | null } | { purpose: "test"; testId: string };

/**
 * A protocol message of a flow (the callback, the token response, the ID token, user-info, an
 * assertion) as it arrived: RAW, so it holds tokens and personal values. It goes nowhere but to
 * the trace, which redacts it before keeping anything (sso/trace-redact.ts); never log one.
 */
export interface ProtocolMessage {
  name: string;
  at: string;
  data: unknown;
}

/** A failure at the IdP side of a flow: the step, the precise cause (audit, trace, test diagnostic). */
export interface FlowFailure {
  step: SsoStep;
  cause: string;
  idpError?: string | null;
  claimNames?: string[];
  /** Facts of the failed check for the audit record (never a token or personal value). */
  details?: Record<string, string | boolean>;
}

/** How a flow came back from the IdP. `messages` are what the trace records either way. */
export type Completion =
  | { ok: true; claims: Record<string, unknown>; messages: ProtocolMessage[] }
  | { ok: false; failure: FlowFailure; messages: ProtocolMessage[] };

/** What the kind's completion may read of the flow's state (absent for flows without a state). */
export interface FlowState {
  /** The state token as received (OAuth 2.0 `state`). */
  token: string;
  nonce: string;
  codeVerifier: string;
  /** The state's issue time, ms. */
  issuedAt: number;
}

export interface CompleteInput {
  request: FastifyRequest;
  row: ConnectionRow;
  flow: FlowPurpose;
  state: FlowState | null;
  /** Claim names the connection's mapping reads (an OIDC sign-in skips user-info when all are in the ID token). */
  wanted: readonly (string | null)[];
}

export interface StartInput {
  request: FastifyRequest;
  reply: FastifyReply;
  row: ConnectionRow;
  flow: FlowPurpose;
}

export interface NormalizeOptions {
  allowHttp: boolean;
  defaultRedirectUrl: string;
}

export interface ConnectionKind {
  type: ConnectionType;
  /** How its sign-ins are counted and audited (SPEC §10 metrics, §4 audit). */
  method: "sso" | "cloudflare";
  /** The §4 code of a failure on the IdP's side of the flow. */
  failureCode: Extract<SsoErrorCode, "sso_failed" | "cloudflare_failed">;
  /** True when the kind authenticates to its IdP with a client secret (`clientSecret` is required). */
  usesClientSecret: boolean;
  /** The API fields this kind takes (besides `type` and `name`); any other non-null field is a 422. */
  fields: readonly (keyof ConnectionInput)[];
  defaultMapping: ConnectionMapping;
  /**
   * The kind's part of the validation: `base` holds the common fields already checked (name,
   * mapping) and nulls elsewhere; the kind fills in its own. Throws AppError 422 naming the field.
   */
  normalize(
    input: ConnectionInput,
    base: NormalizedConnection,
    opts: NormalizeOptions,
  ): { value: NormalizedConnection; warnings: string[] };
  /**
   * What the kind stores besides the configuration, made when a connection is created or its
   * configuration changes (SAML: the IdP metadata fetched through the SSRF guard, the SP key pair).
   * Runs before the write, outside its transaction. Throws AppError 422 naming the field.
   */
  prepare?(
    ctx: AppContext,
    input: { connectionId: string; value: NormalizedConnection; existing: ConnectionRow | null },
  ): Promise<Partial<Insertable<SsoConnectionsTable>>>;
  wizard: KindWizard;
  /** The URL the browser goes to for this flow. Throws SsoStepError when it cannot start. */
  start(ctx: AppContext, input: StartInput): Promise<string>;
  complete(ctx: AppContext, input: CompleteInput): Promise<Completion>;
}
