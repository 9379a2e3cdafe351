/**
 * Sign-in error codes and their messages, word for word from SPEC §4.
 * The login page shows exactly one of these for `/login?error=<code>`.
 */
export { SSO_ERRORS as SIGN_IN_ERROR_MESSAGES } from "../../src/sso/messages.js";

import { SSO_ERRORS as SIGN_IN_ERROR_MESSAGES } from "../../src/sso/messages.js";

export type SignInErrorCode = keyof typeof SIGN_IN_ERROR_MESSAGES;

/** The message for a sign-in error code; unknown codes get the `sso_failed` message. */
export function signInErrorMessage(code: string | null | undefined): string {
  if (code && Object.hasOwn(SIGN_IN_ERROR_MESSAGES, code)) {
    return SIGN_IN_ERROR_MESSAGES[code as SignInErrorCode];
  }
  return SIGN_IN_ERROR_MESSAGES.sso_failed;
}

export const GENERIC_ERROR = SIGN_IN_ERROR_MESSAGES.sso_failed;
export const NETWORK_ERROR = "Could not reach the server. Check your connection and try again.";

/** UI wording shared by several pages. */
export const UI = {
  breakGlassNote: "Administrator break-glass sign-in. This sign-in is recorded in the audit log.",
  redirectUrlWarning:
    "⚠️ Editing the Redirect URL is not advisable unless correcting it to match the correct pattern.",
  needPassedTest: "Run a successful test to enable SSO.",
  enableSsoFirst: "Enable SSO first.",
  deleteConnection:
    "Deleting this configuration disables SSO for all users and resets the additional settings.",
  noMatchedUser: "No CoPilot user matched this identity",
  secretMask: "••••••••",
  tokenShownOnce: "Copy this token now. It won't be shown again.",
  backupCodesShownOnce:
    "Save these backup codes somewhere safe. Each code works once, and they won't be shown again.",
} as const;
