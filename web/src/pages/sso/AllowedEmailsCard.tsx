import { type FormEvent, useId, useState } from "react";
import { api, errorMessage } from "../../api.js";
import { Alert } from "../../components/Alert.js";
import { Badge } from "../../components/Badge.js";
import { Button } from "../../components/Button.js";
import { Card } from "../../components/Card.js";
import { Dialog } from "../../components/Dialog.js";
import { SelectField, TextField } from "../../components/Field.js";
import { EmptyState, ErrorState, LoadingState } from "../../components/Spinner.js";
import { Table } from "../../components/Table.js";
import { formatDateTime, ROLE_OPTIONS, roleLabel } from "../../format.js";
import { useApi } from "../../hooks.js";
import type { AllowedEmail, ProvisioningPolicy, Role } from "../../types.js";

/** The "SSO Allowed Emails" card: who may sign in (and be created) under the allowlist policy. */
export function AllowedEmailsCard({ provisioning }: { provisioning: ProvisioningPolicy }) {
  const list = useApi<{ allowedEmails: AllowedEmail[] }>("/api/admin/sso/allowed-emails");
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<string | null>(null);
  const [removeError, setRemoveError] = useState<string | null>(null);

  async function remove(entry: AllowedEmail) {
    setRemoving(entry.id);
    setRemoveError(null);
    try {
      await api(`/api/admin/sso/allowed-emails/${encodeURIComponent(entry.id)}`, { method: "DELETE" });
      list.setData((prev) =>
        prev ? { allowedEmails: prev.allowedEmails.filter((e) => e.id !== entry.id) } : prev,
      );
    } catch (cause) {
      setRemoveError(errorMessage(cause));
    } finally {
      setRemoving(null);
    }
  }

  const rows = list.data?.allowedEmails ?? [];

  return (
    <Card
      title="SSO Allowed Emails"
      description="Only emails on this list can sign in with SSO. The first sign-in of a listed email creates the user with the role given here."
      actions={
        <Button variant="primary" onClick={() => setAdding(true)}>
          Add Email
        </Button>
      }
    >
      <div className="stack">
        {provisioning !== "allowlist" ? (
          <Alert tone="info">
            <p>
              The list is used when the provisioning policy is “Allowed emails (create users on first
              sign-in)”. It is currently “Existing users only”.
            </p>
          </Alert>
        ) : null}
        {removeError ? (
          <Alert tone="error" onDismiss={() => setRemoveError(null)}>
            <p>{removeError}</p>
          </Alert>
        ) : null}
        {list.loading && !list.data ? (
          <LoadingState label="Loading allowed emails…" />
        ) : list.error ? (
          <ErrorState error={list.error} onRetry={list.reload} title="Couldn't load the allowed emails" />
        ) : (
          <Table
            label="SSO allowed emails"
            rows={rows}
            rowKey={(row) => row.id}
            empty={
              <EmptyState title="No allowed emails yet">
                <p>Add the email addresses of the people who may sign in with SSO.</p>
              </EmptyState>
            }
            columns={[
              { key: "email", header: "Email", className: "cell-primary", render: (row) => row.email },
              {
                key: "role",
                header: "Role",
                render: (row) => (
                  <Badge tone={row.role === "admin" ? "accent" : "neutral"}>{roleLabel(row.role)}</Badge>
                ),
              },
              {
                key: "added",
                header: "Added",
                className: "cell-nowrap",
                render: (row) => formatDateTime(row.createdAt),
              },
              {
                key: "actions",
                header: <span className="visually-hidden">Actions</span>,
                className: "cell-actions",
                render: (row) => (
                  <Button
                    size="sm"
                    variant="ghost"
                    aria-label={`Remove ${row.email}`}
                    loading={removing === row.id}
                    onClick={() => remove(row)}
                  >
                    Remove
                  </Button>
                ),
              },
            ]}
          />
        )}
      </div>
      <AddEmailDialog
        open={adding}
        onClose={() => setAdding(false)}
        onAdded={(entry) => {
          list.setData((prev) => ({ allowedEmails: [entry, ...(prev?.allowedEmails ?? [])] }));
          setAdding(false);
        }}
      />
    </Card>
  );
}

function AddEmailDialog({
  open,
  onClose,
  onAdded,
}: {
  open: boolean;
  onClose: () => void;
  onAdded: (entry: AllowedEmail) => void;
}) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("analyst");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formId = `add-email${useId()}`;

  function close() {
    setEmail("");
    setRole("analyst");
    setError(null);
    onClose();
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim())) {
      setError("Enter a valid email address.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const result = await api<{ allowedEmail: AllowedEmail }>("/api/admin/sso/allowed-emails", {
        method: "POST",
        body: { email: email.trim(), role },
      });
      setEmail("");
      setRole("analyst");
      onAdded(result.allowedEmail);
    } catch (cause) {
      setError(errorMessage(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog
      open={open}
      title="Add an allowed email"
      onClose={close}
      dismissible={!busy}
      footer={
        <>
          <Button onClick={close} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" form={formId} variant="primary" loading={busy}>
            Add Email
          </Button>
        </>
      }
    >
      <form id={formId} className="stack" onSubmit={submit} noValidate>
        <TextField
          label="Email"
          type="email"
          value={email}
          onChange={setEmail}
          error={error}
          required
          autoComplete="off"
        />
        <SelectField
          label="Role"
          hint="The CoPilot role assigned on first sign-in."
          value={role}
          onChange={(v) => setRole(v as Role)}
          options={ROLE_OPTIONS}
        />
      </form>
    </Dialog>
  );
}
