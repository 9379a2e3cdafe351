/**
 * The SAML 2.0 SP library (SPEC §12, issue 16): what the `saml` connection kind and its routes
 * call. The ACS handler's whole verification is `acceptSamlResponse`: every acceptance rule
 * (response.ts), then the one-time rules in the database (store.ts), or a typed `SamlError`
 * `{check, cause}` (plus `summary` for the trace) for `sso_failed`.
 */
import type { Db } from "../../db/database.js";
import { SamlError } from "./errors.js";
import {
  type SamlAcceptanceOptions,
  type SamlAssertionFacts,
  type SamlResponseInput,
  verifySamlResponse,
} from "./response.js";
import { settleSamlResponse } from "./store.js";

export { buildAuthnRequest, readRedirectMessage, redirectUrl } from "./authn-request.js";
export { isSamlError, type SamlCheck, SamlError } from "./errors.js";
export {
  beginRotation,
  certificateInfo,
  completeRotation,
  decryptionKeys,
  expiresSoon,
  generateSpKey,
  newKeyRing,
  normalizeCertificate,
  parseCertificateList,
  type SpKey,
  type SpKeyRing,
} from "./keys.js";
export {
  buildSpMetadata,
  type IdpMetadata,
  manualIdpConfiguration,
  NAMEID_FORMATS,
  parseIdpMetadata,
} from "./metadata.js";
export {
  clockSkewSeconds,
  type SamlAcceptanceOptions,
  type SamlAssertionFacts,
  type SignatureRequirement,
  verifySamlResponse,
} from "./response.js";
export {
  consumeAuthnRequest,
  newRequestId,
  saveAuthnRequest,
  settleSamlResponse,
  sweepSamlStore,
} from "./store.js";
export type { SamlTraceSummary } from "./summary.js";

/** Verify (no database) and then settle (AuthnRequest used once, Assertion ID once) a Response. */
export async function acceptSamlResponse(
  db: Db,
  input: SamlResponseInput,
  options: SamlAcceptanceOptions & { connectionId: string },
): Promise<SamlAssertionFacts> {
  const facts = await verifySamlResponse(input, options);
  try {
    await settleSamlResponse(db, {
      connectionId: options.connectionId,
      idpEntityId: options.idpEntityId,
      facts,
      now: options.now,
    });
  } catch (err) {
    if (err instanceof SamlError) err.summary = facts.summary;
    throw err;
  }
  return facts;
}
