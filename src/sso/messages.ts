/**
 * The sign-in failure table of SPEC §4 step 7 (seed 000's troubleshooting table plus seed 003's
 * allowlist message). Users see exactly these messages; the precise cause goes to the audit log.
 * The web pages import this same table.
 */
export const SSO_ERRORS = {
  sso_failed: "Something went wrong, please try again.",
  email_not_verified: "Email is not verified, please contact your admin.",
  remote_id_missing: "remoteIdField is not configured properly, please contact your admin.",
  email_or_id_missing: "emailField or idField is not configured properly, please contact your admin.",
  user_not_found: "No user found with this email.",
  email_not_allowed: "Email not in allowed list",
  not_authorized: "You are not authorized to access this account. Please contact your admin.",
  test_start_failed: "Failed to initiate SSO test.",
  cloudflare_failed: "Cloudflare authentication failed",
} as const;

export type SsoErrorCode = keyof typeof SSO_ERRORS;

export function ssoMessage(code: string | null | undefined): string {
  return SSO_ERRORS[(code ?? "sso_failed") as SsoErrorCode] ?? SSO_ERRORS.sso_failed;
}
