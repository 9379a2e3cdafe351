import { useState } from "react";
import { ApiError, api, errorMessage } from "../api.js";
import { AuthForm, AuthLayout } from "../components/AuthLayout.js";
import { TextField, VERBATIM } from "../components/Field.js";
import { CodeField, codeProblem } from "../components/TwoFactor.js";
import { useAction } from "../hooks.js";
import { goTo, Link, safeReturnTo, useLocation, withQuery } from "../router.js";
import type { User } from "../types.js";

function backupCodeProblem(backupCode: string): string | null {
  return backupCode.trim() ? null : "Enter one of your backup codes.";
}

export function TwoFactorPage() {
  const { query } = useLocation();
  const returnTo = safeReturnTo(query.get("returnTo"));
  const [useBackup, setUseBackup] = useState(false);
  const [code, setCode] = useState("");
  const [backupCode, setBackupCode] = useState("");
  const [expired, setExpired] = useState(false);
  const verification = useAction();

  function submit() {
    void verification.run(
      async () => {
        const body = useBackup ? { backupCode: backupCode.trim() } : { code };
        const result = await api<{ user: User; returnTo?: string | null }>("/api/auth/2fa", {
          method: "POST",
          body,
        });
        goTo(safeReturnTo(result.returnTo) ?? returnTo ?? "/");
      },
      {
        problem: useBackup ? backupCodeProblem(backupCode) : codeProblem(code),
        keepBusy: true,
        onError: (cause) => {
          setExpired(cause instanceof ApiError && cause.status === 401);
          return errorMessage(cause);
        },
      },
    );
  }

  function switchMode() {
    setUseBackup((v) => !v);
    verification.setError(null);
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
      <AuthForm
        action={verification}
        errorDetail={
          expired ? (
            <p>
              <Link to={withQuery("/login", { returnTo })}>Sign in again</Link>
            </p>
          ) : null
        }
        submitLabel="Verify"
        onSubmit={submit}
        footer={
          <div className="auth-links">
            <button type="button" className="link-button" onClick={switchMode}>
              {useBackup ? "Use your authenticator app" : "Use a backup code"}
            </button>
            <Link to={withQuery("/login", { returnTo })}>Back to sign in</Link>
          </div>
        }
      >
        {useBackup ? (
          <TextField
            key="backup"
            label="Backup code"
            value={backupCode}
            onChange={setBackupCode}
            autoComplete="off"
            {...VERBATIM}
            required
            autoFocus
          />
        ) : (
          <CodeField key="totp" value={code} onChange={setCode} autoFocus />
        )}
      </AuthForm>
    </AuthLayout>
  );
}
