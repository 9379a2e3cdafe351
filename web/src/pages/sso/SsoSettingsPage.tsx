import { useEffect, useState } from "react";
import { errorMessage } from "../../api.js";
import { Alert, AlertMessage } from "../../components/Alert.js";
import { Button } from "../../components/Button.js";
import { Card } from "../../components/Card.js";
import { ChoiceGroup } from "../../components/Field.js";
import { Loadable } from "../../components/Loadable.js";
import { SettingsPage } from "../../components/PageHeader.js";
import { EmptyState } from "../../components/Spinner.js";
import { useAction, useApi } from "../../hooks.js";
import { navigate, useLocation } from "../../router.js";
import { useSession } from "../../session.js";
import type { Agency, Connection, ProvisioningPolicy, SsoOverview, SsoSettings } from "../../types.js";
import { AllowedEmailsCard } from "./AllowedEmailsCard.js";
import {
  ConnectionCard,
  HideOtherLoginOptions,
  type OverviewUpdate,
  saveSettings,
  useSettingsChange,
} from "./ConnectionCard.js";
import { type KindDescription, kindOf } from "./model.js";
import { SsoWizard } from "./SsoWizard.js";
import { TestResultBanner } from "./TestResult.js";

type WizardState = { mode: "create" } | { mode: "edit"; connection: Connection } | null;

export function SsoSettingsPage() {
  const { query } = useLocation();
  const { agency } = useSession();
  const testId = query.get("test");
  const overview = useApi<SsoOverview>("/api/admin/sso");
  // The connection kinds as the server describes them: the wizard and the cards render from them.
  const kinds = useApi<{ kinds: KindDescription[] }>("/api/admin/sso/kinds");
  const page = {
    data: overview.data && kinds.data ? { ...overview.data, kinds: kinds.data.kinds } : null,
    error: overview.error ?? kinds.error,
    loading: overview.loading || kinds.loading,
    reload: () => {
      overview.reload();
      if (kinds.error) kinds.reload();
    },
  };
  const [wizard, setWizard] = useState<WizardState>(null);
  const [saved, setSaved] = useState<{ name: string; warnings: string[] } | null>(null);

  const data = overview.data;
  const hasConnections = (data?.connections.length ?? 0) > 0;

  function applyUpdate(update: OverviewUpdate) {
    overview.setData((prev) =>
      prev
        ? {
            ...prev,
            settings: update.settings ?? prev.settings,
            connections: update.connection
              ? prev.connections.map((c) => (c.id === update.connection?.id ? update.connection : c))
              : prev.connections,
          }
        : prev,
    );
  }

  function openWizard(state: WizardState) {
    setSaved(null);
    setWizard(state);
  }

  return (
    <SettingsPage
      title="Single Sign-On (SSO)"
      description="Let your team sign in to CoPilot with their organisation's identity provider (OpenID Connect, SAML 2.0 or Cloudflare Access)."
      actions={
        data?.prerequisites.met && hasConnections && !wizard ? (
          <Button onClick={() => openWizard({ mode: "create" })}>Add connection</Button>
        ) : undefined
      }
    >
      {testId ? (
        <TestResultBanner
          testId={testId}
          current={data?.connections.find((c) => c.latestTest?.id === testId)?.latestTest ?? null}
          refreshKey={data}
          ssoEnabled={Boolean(data?.settings.enabled)}
          onDismiss={() => navigate("/settings/sso", { replace: true })}
        />
      ) : null}

      {saved ? (
        <Alert
          tone={saved.warnings.length ? "warning" : "success"}
          title={`“${saved.name}” saved`}
          onDismiss={() => setSaved(null)}
        >
          {saved.warnings.length ? (
            <ul className="plain-list">
              {saved.warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          ) : null}
          <p>Next, run a test from Test Status. SSO can be enabled once a test passes.</p>
        </Alert>
      ) : null}

      <Loadable
        resource={page}
        loadingLabel="Loading SSO settings…"
        errorTitle="Couldn't load the SSO settings"
        keepDataOnError
      >
        {(data) =>
          !data.prerequisites.met ? (
            <Prerequisites reasons={data.prerequisites.reasons} agency={agency} />
          ) : wizard ? (
            <SsoWizard
              kinds={data.kinds}
              key={wizard.mode === "edit" ? wizard.connection.id : "new"}
              connection={wizard.mode === "edit" ? wizard.connection : undefined}
              defaultRedirectUrl={data.defaultRedirectUrl}
              onCancel={() => setWizard(null)}
              onSaved={(connection, warnings) => {
                setWizard(null);
                setSaved({ name: connection.name, warnings });
                overview.reload();
              }}
            />
          ) : (
            <>
              <AlertMessage
                title="Couldn't refresh the SSO settings"
                message={overview.error ? errorMessage(overview.error) : null}
              />
              {hasConnections ? (
                data.connections.map((connection) => (
                  <ConnectionCard
                    key={connection.id}
                    connection={connection}
                    kind={kindOf(data.kinds, connection.type)}
                    connections={data.connections}
                    settings={data.settings}
                    showHideToggle={data.connections.length === 1}
                    onEdit={() => openWizard({ mode: "edit", connection })}
                    onChanged={overview.reload}
                    onUpdate={applyUpdate}
                  />
                ))
              ) : (
                <Card>
                  <EmptyState
                    title="Single Sign-On isn't set up yet"
                    action={
                      <Button variant="primary" onClick={() => openWizard({ mode: "create" })}>
                        Enable SSO
                      </Button>
                    }
                  >
                    <p>
                      Connect Okta, Auth0, Azure Entra ID, Google or any OpenID Connect provider. You'll enter
                      the client details, test the connection, then turn it on.
                    </p>
                  </EmptyState>
                </Card>
              )}
              {data.connections.length > 1 ? (
                <LoginPageCard
                  settings={data.settings}
                  connections={data.connections}
                  onChanged={overview.reload}
                  onUpdate={applyUpdate}
                />
              ) : null}
              <ProvisioningCard settings={data.settings} onChanged={overview.reload} />
              <AllowedEmailsCard provisioning={data.settings.provisioning} />
            </>
          )
        }
      </Loadable>
    </SettingsPage>
  );
}

const REASON_HELP: { test: RegExp; title: string; text: string }[] = [
  {
    test: /plan|pro\b/i,
    title: "Your agency must be on the Pro plan.",
    text: "Single Sign-On is included in the Pro plan only. Contact your account manager to upgrade.",
  },
  {
    test: /domain|whitelabel/i,
    title: "A whitelabel domain must be configured.",
    text: "SSO runs on your own sign-in domain (for example login.your-company.com), which is also part of the Redirect URL.",
  },
];

function Prerequisites({ reasons, agency }: { reasons: string[]; agency: Agency }) {
  const items: { key: string; title: string; text: string }[] = [];
  for (const reason of reasons) {
    const help = REASON_HELP.find((h) => h.test.test(reason));
    if (help && !items.some((i) => i.title === help.title))
      items.push({ key: reason, title: help.title, text: help.text });
    else if (!help) items.push({ key: reason, title: reason, text: "" });
  }
  // Fall back to what the session says when the API gave no reasons.
  if (items.length === 0) {
    if (agency.plan !== "pro")
      items.push({ key: "plan", title: REASON_HELP[0]!.title, text: REASON_HELP[0]!.text });
    if (!agency.domain)
      items.push({ key: "domain", title: REASON_HELP[1]!.title, text: REASON_HELP[1]!.text });
  }
  return (
    <Card
      title="Before you can set up SSO"
      description="Two conditions must be met before SSO can be enabled:"
    >
      <ul className="prereq-list">
        {items.map((item) => (
          <li key={item.key} className="prereq">
            <span className="prereq-icon" aria-hidden="true">
              !
            </span>
            <div>
              <p className="prereq-title">{item.title}</p>
              {item.text ? <p className="muted">{item.text}</p> : null}
            </div>
          </li>
        ))}
      </ul>
    </Card>
  );
}

function ProvisioningCard({ settings, onChanged }: { settings: SsoSettings; onChanged: () => void }) {
  const [value, setValue] = useState<ProvisioningPolicy>(settings.provisioning);
  const saving = useAction();
  const busy = saving.busy;
  const [savedNote, setSavedNote] = useState(false);

  useEffect(() => setValue(settings.provisioning), [settings.provisioning]);

  function change(next: ProvisioningPolicy) {
    const previous = value;
    setValue(next);
    setSavedNote(false);
    void saving.run(
      async () => {
        await saveSettings({ ...settings, provisioning: next });
        setSavedNote(true);
        onChanged();
      },
      {
        onError: (cause) => {
          setValue(previous);
          return errorMessage(cause);
        },
      },
    );
  }

  return (
    <Card
      title="User provisioning"
      description="Decide what happens when someone signs in with SSO for the first time."
    >
      <div className="stack">
        <ChoiceGroup
          type="radio"
          name="provisioning"
          legend="Who can sign in with SSO"
          value={value}
          onChange={(v) => change(v as ProvisioningPolicy)}
          options={[
            {
              value: "existing-users",
              label: "Existing users only",
              description:
                "People must already have a CoPilot user (matched by Remote ID or email). No user is created.",
              disabled: busy,
            },
            {
              value: "allowlist",
              label: "Allowed emails (create users on first sign-in)",
              description:
                "Only emails on the SSO Allowed Emails list can sign in; their user is created on the first sign-in with the listed role.",
              disabled: busy,
            },
          ]}
        />
        <p className="status-line" role="status">
          {busy ? "Saving…" : savedNote ? "Saved." : ""}
        </p>
        <AlertMessage message={saving.error} />
      </div>
    </Card>
  );
}

/** With several connections, the agency-wide login page option lives in its own card. */
function LoginPageCard({
  settings,
  connections,
  onChanged,
  onUpdate,
}: {
  settings: SsoSettings;
  connections: Connection[];
  onChanged: () => void;
  onUpdate: (update: OverviewUpdate) => void;
}) {
  const change = useSettingsChange({ settings, onChanged, onUpdate });
  return (
    <Card title="Login page" description="Applies to every SSO connection of the agency.">
      <div className="stack">
        <HideOtherLoginOptions
          settings={settings}
          anyEnabled={connections.some((c) => c.enabled)}
          onChange={change.setHidden}
        />
        <AlertMessage message={change.error} />
      </div>
    </Card>
  );
}
