import { useState } from "react";
import { api } from "../api.js";
import { Alert, AlertMessage } from "../components/Alert.js";
import { Badge } from "../components/Badge.js";
import { Button } from "../components/Button.js";
import { Card } from "../components/Card.js";
import { CopyButton } from "../components/CopyButton.js";
import { ConfirmDialog, Dialog, FormDialog } from "../components/Dialog.js";
import { ChoiceGroup, TextField } from "../components/Field.js";
import { Loadable } from "../components/Loadable.js";
import { SettingsPage } from "../components/PageHeader.js";
import { EmptyState } from "../components/Spinner.js";
import { actionsColumn, Table } from "../components/Table.js";
import { formatDate, formatDateTime } from "../format.js";
import { useAction, useApi } from "../hooks.js";
import { UI } from "../messages.js";
import type { IntegrationToken, TokenScope } from "../types.js";

const SCOPES: { value: TokenScope; label: string; description: string }[] = [
  { value: "users.readonly", label: "users.readonly", description: "Read users (GET /api/v1/users)." },
  { value: "users.write", label: "users.write", description: "Create, update and deactivate users." },
];

export function TokensPage() {
  const tokens = useApi<{ tokens: IntegrationToken[] }>("/api/admin/tokens");
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ token: IntegrationToken; secret: string } | null>(null);
  const [revoking, setRevoking] = useState<IntegrationToken | null>(null);
  const revocation = useAction();

  function revoke() {
    if (!revoking) return;
    void revocation.run(async () => {
      await api(`/api/admin/tokens/${encodeURIComponent(revoking.id)}`, { method: "DELETE" });
      setRevoking(null);
      tokens.reload();
    });
  }

  return (
    <SettingsPage
      title="Integration tokens"
      description={
        <>
          Private tokens for the user provisioning API (<code>/api/v1/users</code>). Send them as{" "}
          <code>Authorization: Bearer &lt;token&gt;</code>.
        </>
      }
      actions={
        <Button variant="primary" onClick={() => setCreating(true)}>
          Create token
        </Button>
      }
    >
      <Card>
        <Loadable resource={tokens} loadingLabel="Loading tokens…" errorTitle="Couldn't load the tokens">
          {({ tokens: rows }) => (
            <Table
              label="Integration tokens"
              rows={rows}
              rowClassName={(t) => (t.revokedAt ? "row-muted" : undefined)}
              empty={
                <EmptyState title="No integration tokens yet">
                  <p>Create a token to add or update users from your identity provider or scripts.</p>
                </EmptyState>
              }
              columns={[
                { key: "name", header: "Name", className: "cell-primary", render: (t) => t.name },
                {
                  key: "scopes",
                  header: "Scopes",
                  render: (t) => (
                    <ul className="chips">
                      {t.scopes.map((s) => (
                        <li key={s} className="chip">
                          {s}
                        </li>
                      ))}
                    </ul>
                  ),
                },
                { key: "prefix", header: "Prefix", render: (t) => <code>{t.prefix}…</code> },
                {
                  key: "by",
                  header: "Created by",
                  render: (t) => t.createdBy?.email ?? <span className="muted">—</span>,
                },
                {
                  key: "created",
                  header: "Created",
                  className: "cell-nowrap",
                  render: (t) => formatDate(t.createdAt),
                },
                {
                  key: "used",
                  header: "Last used",
                  className: "cell-nowrap",
                  render: (t) => formatDateTime(t.lastUsedAt, "Never"),
                },
                {
                  key: "status",
                  header: "Status",
                  render: (t) =>
                    t.revokedAt ? <Badge tone="danger">Revoked</Badge> : <Badge tone="success">Active</Badge>,
                },
                actionsColumn((t: IntegrationToken) =>
                  t.revokedAt ? null : (
                    <Button
                      size="sm"
                      variant="ghost"
                      className="btn-ghost-danger"
                      aria-label={`Revoke ${t.name}`}
                      onClick={() => setRevoking(t)}
                    >
                      Revoke
                    </Button>
                  ),
                ),
              ]}
            />
          )}
        </Loadable>
      </Card>

      {creating ? (
        <CreateTokenDialog
          onClose={() => setCreating(false)}
          onCreated={(result) => {
            setCreating(false);
            setCreated(result);
            tokens.reload();
          }}
        />
      ) : null}

      <Dialog
        open={created !== null}
        title="Token created"
        onClose={() => setCreated(null)}
        footer={
          <Button variant="primary" onClick={() => setCreated(null)}>
            Done
          </Button>
        }
      >
        {created ? (
          <div className="stack">
            <Alert tone="warning">
              <p>{UI.tokenShownOnce}</p>
            </Alert>
            <div className="field">
              <p className="field-label" id="new-token-label">
                {created.token.name}
              </p>
              <div className="secret-row">
                <code className="secret-text secret-token">{created.secret}</code>
              </div>
              <div className="form-actions">
                <CopyButton text={created.secret} />
              </div>
            </div>
          </div>
        ) : null}
      </Dialog>

      <ConfirmDialog
        open={revoking !== null}
        title="Revoke token?"
        message={
          revoking ? `Integrations using “${revoking.name}” stop working at once. This can't be undone.` : ""
        }
        confirmLabel="Revoke"
        action={revocation}
        onConfirm={revoke}
        onCancel={() => setRevoking(null)}
      />
    </SettingsPage>
  );
}

function CreateTokenDialog({
  onClose,
  onCreated,
}: {
  onClose: () => void;
  onCreated: (result: { token: IntegrationToken; secret: string }) => void;
}) {
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["users.readonly"]);
  const [errors, setErrors] = useState<{ name?: string; scopes?: string }>({});
  const creation = useAction();

  function submit() {
    const found: { name?: string; scopes?: string } = {};
    if (!name.trim()) found.name = "Enter a name.";
    if (scopes.length === 0) found.scopes = "Choose at least one scope.";
    setErrors(found);
    if (found.name || found.scopes) return;
    void creation.run(
      async () => {
        const result = await api<{ token: IntegrationToken; secret: string }>("/api/admin/tokens", {
          method: "POST",
          body: { name: name.trim(), scopes },
        });
        onCreated(result);
      },
      { keepBusy: true },
    );
  }

  return (
    <FormDialog
      title="Create integration token"
      submitLabel="Create token"
      action={creation}
      onClose={onClose}
      onSubmit={submit}
    >
      <AlertMessage message={creation.error} />
      <TextField
        label="Name"
        hint="What the token is for, e.g. “Okta provisioning”."
        value={name}
        onChange={setName}
        error={errors.name}
        required
        autoComplete="off"
      />
      <ChoiceGroup
        type="checkbox"
        name="scopes"
        legend="Scopes"
        value={scopes}
        onChange={setScopes}
        error={errors.scopes}
        options={SCOPES}
      />
    </FormDialog>
  );
}
