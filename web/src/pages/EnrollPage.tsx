import { useState } from "react";
import { Alert } from "../components/Alert.js";
import { AuthLayout } from "../components/AuthLayout.js";
import { BackupCodes, TwoFactorSetup } from "../components/TwoFactor.js";
import { goTo, Link, safeReturnTo, useLocation, withQuery } from "../router.js";

/** Sign-in for an agency that requires 2FA, by a user who has not set it up yet. */
export function EnrollPage() {
  const { query } = useLocation();
  const returnTo = safeReturnTo(query.get("returnTo"));
  const [backupCodes, setBackupCodes] = useState<string[] | null>(null);
  const [expired, setExpired] = useState(false);

  return (
    <AuthLayout
      title="Set up two-factor authentication"
      subtitle={
        backupCodes
          ? "Two-factor authentication is on."
          : "Your organisation requires two-factor authentication. Set it up to finish signing in."
      }
    >
      {expired ? (
        <Alert tone="error" title="Your sign-in has expired">
          <p>
            <Link to={withQuery("/login", { returnTo })}>Sign in again</Link> to continue.
          </p>
        </Alert>
      ) : backupCodes ? (
        <BackupCodes codes={backupCodes} doneLabel="Continue" onDone={() => goTo(returnTo ?? "/")} />
      ) : (
        <TwoFactorSetup onConfirmed={setBackupCodes} onUnauthorized={() => setExpired(true)} />
      )}
      {!backupCodes && !expired ? (
        <p className="auth-meta">
          <Link to={withQuery("/login", { returnTo })}>Back to sign in</Link>
        </p>
      ) : null}
    </AuthLayout>
  );
}
