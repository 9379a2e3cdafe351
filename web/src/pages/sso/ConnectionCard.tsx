import { useState } from "react";
import { api, errorMessage } from "../../api.js";
import { Alert } from "../../components/Alert.js";
import { Badge, TestStatusBadge } from "../../components/Badge.js";
import { Button } from "../../components/Button.js";
import { Card } from "../../components/Card.js";
import { Collapsible } from "../../components/Collapsible.js";
import { ConfirmDialog } from "../../components/Dialog.js";
import { Menu } from "../../components/Menu.js";
import { Toggle } from "../../components/Toggle.js";
import { UI } from "../../messages.js";
import type { Connection, SsoSettings, SsoTest } from "../../types.js";
import { summaryRows } from "./model.js";
import { TYPE_LABELS } from "./providers.js";
import { SummaryList } from "./SummaryList.js";
import { TestDetails } from "./TestResult.js";

interface ConnectionCardProps {
  connection: Connection;
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

/** A saved connection: SSO Configuration, Test Status and Additional Settings, plus the ⋯ menu. */
export function ConnectionCard({
  connection,
  settings,
  connections,
  showHideToggle,
  onEdit,
  onChanged,
  onUpdate,
}: ConnectionCardProps) {
  const [testing, setTesting] = useState(false);
  const [testError, setTestError] = useState<string | null>(null);
  const [settingsError, setSettingsError] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);

  const latest = connection.latestTest;
  const passed = latest?.status === "passed";
  const enabled = connection.enabled && settings.enabled;
  const otherEnabled = connections.some((c) => c.id !== connection.id && c.enabled);

  async function runTest() {
    setTesting(true);
    setTestError(null);
    try {
      await startTest(connection.id);
    } catch (cause) {
      setTestError(errorMessage(cause));
      setTesting(false);
    }
  }

  async function putEnabled(enabled: boolean) {
    const result = await api<{ connection?: Connection }>(
      `/api/admin/sso/connections/${encodeURIComponent(connection.id)}/enabled`,
      { method: "PUT", body: { enabled } },
    );
    onUpdate({ connection: { ...connection, ...(result?.connection ?? {}), enabled } });
  }

  async function putSettings(next: SsoSettings) {
    const result = await saveSettings(next);
    onUpdate({ settings: result?.settings ?? next });
  }

  async function setEnabled(next: boolean) {
    setSettingsError(null);
    try {
      if (next) {
        if (!connection.enabled) await putEnabled(true);
        if (!settings.enabled) await putSettings({ ...settings, enabled: true });
      } else {
        await putEnabled(false);
        if (!otherEnabled && settings.enabled) {
          await putSettings({ ...settings, enabled: false, hideOtherLoginMethods: false });
        }
      }
    } catch (cause) {
      setSettingsError(errorMessage(cause));
    } finally {
      onChanged();
    }
  }

  async function setHidden(next: boolean) {
    setSettingsError(null);
    try {
      await putSettings({ ...settings, hideOtherLoginMethods: next });
    } catch (cause) {
      setSettingsError(errorMessage(cause));
    } finally {
      onChanged();
    }
  }

  async function remove() {
    setDeleting(true);
    setDeleteError(null);
    try {
      await api(`/api/admin/sso/connections/${encodeURIComponent(connection.id)}`, { method: "DELETE" });
      setConfirmDelete(false);
      onChanged();
    } catch (cause) {
      setDeleteError(errorMessage(cause));
    } finally {
      setDeleting(false);
    }
  }

  return (
    <Card
      className="connection-card"
      title={connection.name}
      description={
        <span className="connection-subtitle">
          <span>{TYPE_LABELS[connection.type]}</span>
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
          <SummaryList rows={summaryRows(connection, connection.hasSecret ? "set" : "none")} />
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
            {testError ? (
              <Alert tone="error">
                <p>{testError}</p>
              </Alert>
            ) : null}
            <div>
              <Button variant="primary" onClick={runTest} loading={testing}>
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
                onChange={setHidden}
              />
            ) : null}
            {settingsError ? (
              <Alert tone="error">
                <p>{settingsError}</p>
              </Alert>
            ) : null}
          </div>
        </Collapsible>
      </div>

      <ConfirmDialog
        open={confirmDelete}
        title="Delete SSO configuration?"
        message={UI.deleteConnection}
        confirmLabel="Delete"
        busy={deleting}
        onConfirm={remove}
        onCancel={() => {
          setConfirmDelete(false);
          setDeleteError(null);
        }}
        error={
          deleteError ? (
            <Alert tone="error">
              <p>{deleteError}</p>
            </Alert>
          ) : null
        }
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
