import { useState } from "react";
import { api } from "../api.js";
import { AlertMessage } from "../components/Alert.js";
import { Card } from "../components/Card.js";
import { Loadable } from "../components/Loadable.js";
import { SettingsPage } from "../components/PageHeader.js";
import { Toggle } from "../components/Toggle.js";
import { useAction, useApi } from "../hooks.js";

export function SecurityPage() {
  const security = useApi<{ require2fa: boolean }>("/api/admin/security");
  const saving = useAction();
  const [saved, setSaved] = useState(false);

  async function change(next: boolean) {
    setSaved(false);
    await saving.run(async () => {
      const result = await api<{ require2fa: boolean }>("/api/admin/security", {
        method: "PUT",
        body: { require2fa: next },
      });
      security.setData(result);
      setSaved(true);
    });
  }

  return (
    <SettingsPage title="Security" description="Sign-in requirements for everyone in your agency.">
      <Card title="Two-factor authentication">
        <Loadable resource={security} errorTitle="Couldn't load the security settings" keepDataOnError>
          {(data) => (
            <div className="stack">
              <Toggle
                label="Require two-factor authentication for everyone in this agency"
                description="People without 2FA are asked to set up an authenticator app at their next sign-in, whatever the sign-in method (password, Google or SSO)."
                checked={data.require2fa}
                onChange={change}
              />
              <p className="status-line" role="status">
                {saved ? "Saved." : ""}
              </p>
              <AlertMessage message={saving.error} />
            </div>
          )}
        </Loadable>
      </Card>
    </SettingsPage>
  );
}
