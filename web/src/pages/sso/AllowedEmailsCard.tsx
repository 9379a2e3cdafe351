import { useState } from "react";
import { api } from "../../api.js";
import { Alert, AlertMessage } from "../../components/Alert.js";
import { RoleBadge } from "../../components/Badge.js";
import { Button } from "../../components/Button.js";
import { Card } from "../../components/Card.js";
import { FormDialog } from "../../components/Dialog.js";
import { SelectField, TextField } from "../../components/Field.js";
import { Loadable } from "../../components/Loadable.js";
import { EmptyState } from "../../components/Spinner.js";
import { actionsColumn, Table } from "../../components/Table.js";
import { formatDateTime, isEmail, ROLE_OPTIONS } from "../../format.js";
import { useAction, useApi } from "../../hooks.js";
import type { AllowedEmail, ProvisioningPolicy, Role } from "../../types.js";

/** The "SSO Allowed Emails" card: who may sign in (and be created) under the allowlist policy. */
export function AllowedEmailsCard({ provisioning }: { provisioning: ProvisioningPolicy }) {
  const list = useApi<{ allowedEmails: AllowedEmail[] }>("/api/admin/sso/allowed-emails");
  const [adding, setAdding] = useState(false);
  /** The entry being removed (its button spins while the removal runs). */
  const [removing, setRemoving] = useState<string | null>(null);
  const removal = useAction();

  function remove(entry: AllowedEmail) {
    setRemoving(entry.id);
    void removal.run(async () => {
      await api(`/api/admin/sso/allowed-emails/${encodeURIComponent(entry.id)}`, { method: "DELETE" });
      list.setData((prev) =>
        prev ? { allowedEmails: prev.allowedEmails.filter((e) => e.id !== entry.id) } : prev,
      );
    });
  }

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
        <AlertMessage message={removal.error} onDismiss={() => removal.setError(null)} />
        <Loadable
          resource={list}
          loadingLabel="Loading allowed emails…"
          errorTitle="Couldn't load the allowed emails"
        >
          {({ allowedEmails: rows }) => (
            <Table
              label="SSO allowed emails"
              rows={rows}
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
                  render: (row) => <RoleBadge role={row.role} />,
                },
                {
                  key: "added",
                  header: "Added",
                  className: "cell-nowrap",
                  render: (row) => formatDateTime(row.createdAt),
                },
                actionsColumn((row: AllowedEmail) => (
                  <Button
                    size="sm"
                    variant="ghost"
                    aria-label={`Remove ${row.email}`}
                    loading={removal.busy && removing === row.id}
                    onClick={() => remove(row)}
                  >
                    Remove
                  </Button>
                )),
              ]}
            />
          )}
        </Loadable>
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
  const adding = useAction();

  function reset() {
    setEmail("");
    setRole("analyst");
  }

  function submit() {
    void adding.run(
      async () => {
        const result = await api<{ allowedEmail: AllowedEmail }>("/api/admin/sso/allowed-emails", {
          method: "POST",
          body: { email: email.trim(), role },
        });
        reset();
        onAdded(result.allowedEmail);
      },
      { problem: isEmail(email.trim()) ? null : "Enter a valid email address." },
    );
  }

  return (
    <FormDialog
      open={open}
      title="Add an allowed email"
      submitLabel="Add Email"
      action={adding}
      onClose={() => {
        reset();
        onClose();
      }}
      onSubmit={submit}
    >
      <TextField
        label="Email"
        type="email"
        value={email}
        onChange={setEmail}
        error={adding.error}
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
    </FormDialog>
  );
}
