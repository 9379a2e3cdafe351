import { type FormEvent, useState } from "react";
import { ApiError, api, errorMessage } from "../api.js";
import { Alert } from "../components/Alert.js";
import { AuthLayout } from "../components/AuthLayout.js";
import { Button } from "../components/Button.js";
import { TextField } from "../components/Field.js";
import { CodeField } from "../components/TwoFactor.js";
import { useTitle } from "../hooks.js";
import { goTo, Link, safeReturnTo, useLocation, withQuery } from "../router.js";
import type { User } from "../types.js";

export function TwoFactorPage() {
  useTitle("Two-factor authentication");
  const { query } = useLocation();
  const returnTo = safeReturnTo(query.get("returnTo"));
  const [useBackup, setUseBackup] = useState(false);
  const [code, setCode] = useState("");
  const [backupCode, setBackupCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [expired, setExpired] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (useBackup ? !backupCode.trim() : code.length !== 6) {
      setError(
        useBackup ? "Enter one of your backup codes." : "Enter the 6-digit code from your authenticator app.",
      );
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = useBackup ? { backupCode: backupCode.trim() } : { code };
      const result = await api<{ user: User; returnTo?: string | null }>("/api/auth/2fa", {
        method: "POST",
        body,
      });
      goTo(safeReturnTo(result.returnTo) ?? returnTo ?? "/");
    } catch (cause) {
      setError(errorMessage(cause));
      setExpired(cause instanceof ApiError && cause.status === 401);
      setBusy(false);
    }
  }

  function switchMode() {
    setUseBackup((v) => !v);
    setError(null);
  }

  return (
    <AuthLayout
      title="Two-factor authentication"
      subtitle={
        useBackup
          ? "Enter one of the backup codes you saved when you set up two-factor authentication."
          : "Open your authenticator app and enter the code it shows for CoPilot."
      }
    >
      <form className="stack" onSubmit={submit} noValidate>
        {error ? (
          <Alert tone="error">
            <p>{error}</p>
            {expired ? (
              <p>
                <Link to={withQuery("/login", { returnTo })}>Sign in again</Link>
              </p>
            ) : null}
          </Alert>
        ) : null}
        {useBackup ? (
          <TextField
            key="backup"
            label="Backup code"
            value={backupCode}
            onChange={setBackupCode}
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            required
            autoFocus
          />
        ) : (
          <CodeField key="totp" value={code} onChange={setCode} autoFocus />
        )}
        <Button type="submit" variant="primary" className="btn-block" loading={busy}>
          Verify
        </Button>
        <div className="auth-links">
          <button type="button" className="link-button" onClick={switchMode}>
            {useBackup ? "Use your authenticator app" : "Use a backup code"}
          </button>
          <Link to={withQuery("/login", { returnTo })}>Back to sign in</Link>
        </div>
      </form>
    </AuthLayout>
  );
}
