import { useState } from "react";
import { api } from "../../api.js";
import { AlertMessage } from "../../components/Alert.js";
import { Badge, TestStatusBadge } from "../../components/Badge.js";
import { Button } from "../../components/Button.js";
import { Card } from "../../components/Card.js";
import { Collapsible } from "../../components/Collapsible.js";
import { CopyButton } from "../../components/CopyButton.js";
import { ConfirmDialog } from "../../components/Dialog.js";
import { Menu } from "../../components/Menu.js";
import { Toggle } from "../../components/Toggle.js";
import { useAction } from "../../hooks.js";
import { UI } from "../../messages.js";
import type { Connection, SsoSettings, SsoTest } from "../../types.js";
import { GroupMappingsSection } from "./GroupMappingsCard.js";
import { connectionSummary, type KindDescription } from "./model.js";
import { SummaryList } from "./SummaryList.js";
import { TestDetails } from "./TestResult.js";
import { SignInAttempts } from "./TracesCard.js";

interface ConnectionCardProps {
  connection: Connection;
  /** The server's description of the connection's kind (its label and fields). */
  kind: KindDescription | undefined;
  settings: SsoSettings;
  /** All connections of the agency (to know whether another one stays enabled). */
  connections: Connection[];
  /** Show "Hide other login options" inside this card (when the agency has a single connection). */
  showHideToggle: boolean;
  onEdit: () => void;
  /** Reload the SSO overview after a change. */
  onChanged: () => void;
  /** Apply a server answer to the overview at once (the reload follows). */
  onUpdate: (update: OverviewUpdate) => void;
}

export type OverviewUpdate = { settings?: SsoSettings; connection?: Connection };

/** Starts a test: the API answers with the IdP's authorization URL and the browser goes there. */
export async function startTest(connectionId: string): Promise<void> {
  const result = await api<{ test: SsoTest; authorizationUrl: string }>(
    `/api/admin/sso/connections/${encodeURIComponent(connectionId)}/tests`,
    { method: "POST" },
  );
  window.location.assign(result.authorizationUrl);
}

/** Saves the agency-level SSO settings. */
export function saveSettings(settings: SsoSettings): Promise<{ settings: SsoSettings }> {
  return api<{ settings: SsoSettings }>("/api/admin/sso/settings", { method: "PUT", body: settings });
}

interface SettingsChangeProps {
  settings: SsoSettings;
  onChanged: () => void;
  onUpdate: (update: OverviewUpdate) => void;
}

/**
 * Changes made with the SSO toggles: `apply` runs one and reloads the overview whether or not it
 * worked (keeping its error), `save` stores settings and shows the answer at once.
 */
export function useSettingsChange({ settings, onChanged, onUpdate }: SettingsChangeProps) {
  const change = useAction();

  async function apply(task: () => Promise<void>) {
    await change.run(task);
    onChanged();
  }

  async function save(next: SsoSettings) {
    const result = await saveSettings(next);
    onUpdate({ settings: result?.settings ?? next });
  }

  return {
    error: change.error,
    apply,
    save,
    /** "Hide other login options" switched on or off. */
    setHidden: (hidden: boolean) => apply(() => save({ ...settings, hideOtherLoginMethods: hidden })),
  };
}

/**
 * SPEC §12: what the admin pastes into a SAML IdP (ACS URL, entity ID, SP metadata URL) with copy
 * buttons, and the IdP's signing certificates with their expiry (flagged within 30 days). Rendered
 * from the connection's `saml` view, which only SAML connections have.
 */
function SamlServiceProvider({ saml }: { saml: NonNullable<Connection["saml"]> }) {
  const values = [
    { label: "ACS URL", value: saml.acsUrl },
    { label: "Entity ID", value: saml.spEntityId },
    { label: "SP metadata URL", value: saml.spMetadataUrl },
  ];
  return (
    <div className="stack">
      <dl className="summary">
        {values.map((v) => (
          <div key={v.label} className="summary-row">
            <dt>{v.label}</dt>
            <dd className="mono">
              {v.value} <CopyButton text={v.value} label={`Copy ${v.label}`} size="sm" />
            </dd>
          </div>
        ))}
        {saml.certificates.map((c) => (
          <div key={c.fingerprintSha256} className="summary-row">
            <dt>IdP certificate</dt>
            <dd>
              {c.subject} — expires {new Date(c.notAfter).toLocaleDateString()}
              {c.expiresWithin30Days ? <Badge>Expires within 30 days</Badge> : null}
            </dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

/** A saved connection: SSO Configuration, Test Status and Additional Settings, plus the ⋯ menu. */
export function ConnectionCard({
  connection,
  kind,
  settings,
  connections,
  showHideToggle,
  onEdit,
  onChanged,
  onUpdate,
}: ConnectionCardProps) {
  const test = useAction();
  const settingsChange = useSettingsChange({ settings, onChanged, onUpdate });
  const [confirmDelete, setConfirmDelete] = useState(false);
  const deletion = useAction();

  const latest = connection.latestTest;
  const passed = latest?.status === "passed";
  const enabled = connection.enabled && settings.enabled;
  const otherEnabled = connections.some((c) => c.id !== connection.id && c.enabled);

  function runTest() {
    // On success the browser leaves for the IdP: stay busy until it does.
    void test.run(() => startTest(connection.id), { keepBusy: true });
  }

  async function putEnabled(enabled: boolean) {
    const result = await api<{ connection?: Connection }>(
      `/api/admin/sso/connections/${encodeURIComponent(connection.id)}/enabled`,
      { method: "PUT", body: { enabled } },
    );
    onUpdate({ connection: { ...connection, ...(result?.connection ?? {}), enabled } });
  }

  function setEnabled(next: boolean) {
    return settingsChange.apply(async () => {
      if (next) {
        if (!connection.enabled) await putEnabled(true);
        if (!settings.enabled) await settingsChange.save({ ...settings, enabled: true });
      } else {
        await putEnabled(false);
        if (!otherEnabled && settings.enabled) {
          await settingsChange.save({ ...settings, enabled: false, hideOtherLoginMethods: false });
        }
      }
    });
  }

  function remove() {
    void deletion.run(async () => {
      await api(`/api/admin/sso/connections/${encodeURIComponent(connection.id)}`, { method: "DELETE" });
      setConfirmDelete(false);
      onChanged();
    });
  }

  return (
    <Card
      className="connection-card"
      title={connection.name}
      description={
        <span className="connection-subtitle">
          <span>{kind?.label ?? connection.type}</span>
          {enabled ? <Badge tone="success">Enabled</Badge> : <Badge tone="neutral">Disabled</Badge>}
        </span>
      }
      actions={
        <Menu
          label={`More actions for ${connection.name}`}
          items={[
            { label: "Test Configuration", onSelect: runTest },
            { label: "Edit", onSelect: onEdit },
            { label: "Delete", onSelect: () => setConfirmDelete(true), danger: true },
          ]}
        />
      }
    >
      <div className="sections">
        <Collapsible title="SSO Configuration" defaultOpen={connections.length === 1}>
          <SummaryList
            rows={
              kind ? connectionSummary(kind, connection) : [{ label: "Display name", value: connection.name }]
            }
          />
          {connection.saml ? <SamlServiceProvider saml={connection.saml} /> : null}
        </Collapsible>

        <Collapsible
          title="Test Status"
          meta={latest ? <TestStatusBadge status={latest.status} /> : <Badge>Not tested</Badge>}
        >
          <div className="stack">
            {latest ? (
              <TestDetails test={latest} />
            ) : (
              <p className="muted">
                No test has been run yet. The test signs you in at your identity provider and checks every
                step; until a test passes, you cannot enable SSO.
              </p>
            )}
            <AlertMessage message={test.error} />
            <div>
              <Button variant="primary" onClick={runTest} loading={test.busy}>
                Start Test
              </Button>
            </div>
          </div>
        </Collapsible>

        <Collapsible title="Additional Settings">
          <div className="stack">
            <Toggle
              label="Enable SSO"
              description={`Show “Sign in with ${connection.name}” on the login page.`}
              checked={enabled}
              onChange={setEnabled}
              disabled={!enabled && !passed}
              disabledReason={!enabled && !passed ? UI.needPassedTest : undefined}
            />
            {showHideToggle ? (
              <HideOtherLoginOptions
                settings={settings}
                anyEnabled={enabled || otherEnabled}
                onChange={settingsChange.setHidden}
              />
            ) : null}
            <AlertMessage message={settingsChange.error} />
          </div>
        </Collapsible>

        <Collapsible title="Group mappings">
          <GroupMappingsSection connection={connection} />
        </Collapsible>

        <SignInAttempts connectionId={connection.id} />
      </div>

      <ConfirmDialog
        open={confirmDelete}
        title="Delete SSO configuration?"
        message={UI.deleteConnection}
        confirmLabel="Delete"
        action={deletion}
        onConfirm={remove}
        onCancel={() => setConfirmDelete(false)}
      />
    </Card>
  );
}

interface HideProps {
  settings: SsoSettings;
  anyEnabled: boolean;
  onChange: (next: boolean) => Promise<void>;
}

/** "Hide other login options": only effective (and only allowed) while SSO is enabled. */
export function HideOtherLoginOptions({ settings, anyEnabled, onChange }: HideProps) {
  const ssoOn = settings.enabled && anyEnabled;
  const checked = settings.hideOtherLoginMethods;
  return (
    <Toggle
      label="Hide other login options"
      description="The login page shows SSO only; email, password and Google sign-in are refused. Admins can still use /login?method=password (recorded in the audit log)."
      checked={checked}
      onChange={onChange}
      disabled={!ssoOn && !checked}
      disabledReason={!ssoOn ? UI.enableSsoFirst : undefined}
    />
  );
}
