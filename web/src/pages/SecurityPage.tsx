import { useState } from "react";
import { api, errorMessage } from "../api.js";
import { Alert } from "../components/Alert.js";
import { Card } from "../components/Card.js";
import { PageHeader } from "../components/PageHeader.js";
import { ErrorState, LoadingState } from "../components/Spinner.js";
import { Toggle } from "../components/Toggle.js";
import { useApi, useTitle } from "../hooks.js";

export function SecurityPage() {
  useTitle("Security");
  const security = useApi<{ require2fa: boolean }>("/api/admin/security");
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);

  async function change(next: boolean) {
    setError(null);
    setSaved(false);
    try {
      const result = await api<{ require2fa: boolean }>("/api/admin/security", {
        method: "PUT",
        body: { require2fa: next },
      });
      security.setData(result);
      setSaved(true);
    } catch (cause) {
      setError(errorMessage(cause));
    }
  }

  return (
    <div className="page">
      <PageHeader
        eyebrow="Company Settings"
        title="Security"
        description="Sign-in requirements for everyone in your agency."
      />
      <Card title="Two-factor authentication">
        {security.loading && !security.data ? (
          <LoadingState />
        ) : security.error && !security.data ? (
          <ErrorState
            error={security.error}
            onRetry={security.reload}
            title="Couldn't load the security settings"
          />
        ) : security.data ? (
          <div className="stack">
            <Toggle
              label="Require two-factor authentication for everyone in this agency"
              description="People without 2FA are asked to set up an authenticator app at their next sign-in, whatever the sign-in method (password, Google or SSO)."
              checked={security.data.require2fa}
              onChange={change}
            />
            <p className="status-line" role="status">
              {saved ? "Saved." : ""}
            </p>
            {error ? (
              <Alert tone="error">
                <p>{error}</p>
              </Alert>
            ) : null}
          </div>
        ) : null}
      </Card>
    </div>
  );
}
