/**
 * The typed refusal of every SAML check (SPEC §12). `check` names the rule that failed — what the
 * audit log, the trace (§17) and the §7 test diagnostic show — and `cause` says precisely why, in
 * words safe to log: element and attribute NAMES, algorithm URIs, counts and times, never a
 * personal value (NameID, attribute value, email), a signature value or the raw XML.
 */
import type { SamlTraceSummary } from "./summary.js";

export type SamlCheck =
  | "input"
  | "size"
  | "encoding"
  | "doctype"
  | "xml"
  | "root"
  | "status"
  | "assertion_count"
  | "decryption"
  | "signature"
  | "signature_algorithm"
  | "digest_algorithm"
  | "transforms"
  | "issuer"
  | "audience"
  | "destination"
  | "recipient"
  | "subject"
  | "in_response_to"
  | "time"
  | "replay"
  | "metadata"
  | "certificate";

export class SamlError extends Error {
  override readonly name = "SamlError";
  constructor(
    readonly check: SamlCheck,
    override readonly cause: string,
  ) {
    super(`${check}: ${cause}`);
  }

  /**
   * What could be read of the message before the refusal (redacted, see `SamlTraceSummary` in
   * response.ts): the trace and the §7 diagnostic show it, e.g. the attribute names received.
   */
  summary: SamlTraceSummary | null = null;

  toJSON(): { check: SamlCheck; cause: string } {
    return { check: this.check, cause: this.cause };
  }
}

export function isSamlError(err: unknown): err is SamlError {
  return err instanceof SamlError;
}
