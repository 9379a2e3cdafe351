import { useState } from "react";
import { api } from "../../api.js";
import { AlertMessage } from "../../components/Alert.js";
import { RoleBadge } from "../../components/Badge.js";
import { Button } from "../../components/Button.js";
import { FormDialog } from "../../components/Dialog.js";
import { ChoiceGroup, SelectField, TextField, VERBATIM_MONO } from "../../components/Field.js";
import { Loadable } from "../../components/Loadable.js";
import { EmptyState } from "../../components/Spinner.js";
import { actionsColumn, Table } from "../../components/Table.js";
import { ROLE_OPTIONS } from "../../format.js";
import { useAction, useApi } from "../../hooks.js";
import type { Connection, GroupMapping, Role, SubAccount } from "../../types.js";

/** The server's list of a connection's group mappings. */
const mappingsPath = (connectionId: string) =>
  `/api/admin/sso/connections/${encodeURIComponent(connectionId)}/group-mappings`;

/**
 * "Group mappings" (SPEC §13), inside a connection's card: the groups of the IdP mapped to a role
 * and/or sub-accounts, applied at each sign-in through the connection.
 */
export function GroupMappingsSection({ connection }: { connection: Connection }) {
  const list = useApi<{ groupMappings: GroupMapping[] }>(mappingsPath(connection.id));
  const subAccounts = useApi<{ subAccounts: SubAccount[] }>("/api/admin/sub-accounts");
  const [editing, setEditing] = useState<GroupMapping | "new" | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const removal = useAction();
  const names = new Map((subAccounts.data?.subAccounts ?? []).map((s) => [s.id, s.name]));

  function remove(row: GroupMapping) {
    setRemoving(row.id);
    void removal.run(async () => {
      await api(`${mappingsPath(connection.id)}/${encodeURIComponent(row.id)}`, { method: "DELETE" });
      list.setData((prev) =>
        prev ? { groupMappings: prev.groupMappings.filter((m) => m.id !== row.id) } : prev,
      );
    });
  }

  return (
    <div className="stack">
      <p className="muted">
        {connection.groupsField ? (
          <>
            At each sign-in, CoPilot reads the groups in <code>{connection.groupsField}</code>: the highest
            role their groups map becomes the person’s role (no mapped role: it stays as it is), and the
            sub-accounts below are granted or removed. Sub-accounts granted by hand stay.
            {connection.type === "azure" ? " Entra ID sends group object IDs, not names: map the IDs." : ""}
          </>
        ) : (
          "Set a Groups Field in the connection's User Details Mapping (Edit) to use group mappings."
        )}
      </p>
      {connection.allowedGroups.length > 0 ? (
        <p className="muted">Only members of {connection.allowedGroups.join(", ")} may sign in.</p>
      ) : null}
      <AlertMessage message={removal.error} onDismiss={() => removal.setError(null)} />
      <Loadable
        resource={list}
        loadingLabel="Loading group mappings…"
        errorTitle="Couldn't load the group mappings"
      >
        {({ groupMappings: rows }) => (
          <Table
            label={`Group mappings of ${connection.name}`}
            rows={rows}
            empty={
              <EmptyState title="No group mappings yet">
                <p>Map a group of your identity provider to a role or sub-accounts.</p>
              </EmptyState>
            }
            columns={[
              {
                key: "group",
                header: "Group",
                className: "cell-primary",
                render: (row) => <code>{row.group}</code>,
              },
              {
                key: "role",
                header: "Role",
                render: (row) => (row.role ? <RoleBadge role={row.role} /> : "—"),
              },
              {
                key: "subAccounts",
                header: "Sub-accounts",
                render: (row) => row.subAccountIds.map((id) => names.get(id) ?? id).join(", ") || "—",
              },
              actionsColumn((row: GroupMapping) => (
                <span className="row-actions">
                  <Button
                    size="sm"
                    variant="ghost"
                    aria-label={`Edit ${row.group}`}
                    onClick={() => setEditing(row)}
                  >
                    Edit
                  </Button>
                  <Button
                    size="sm"
                    variant="ghost"
                    aria-label={`Remove ${row.group}`}
                    loading={removal.busy && removing === row.id}
                    onClick={() => remove(row)}
                  >
                    Remove
                  </Button>
                </span>
              )),
            ]}
          />
        )}
      </Loadable>
      <div>
        <Button onClick={() => setEditing("new")}>Add Group Mapping</Button>
      </div>
      {editing ? (
        <MappingDialog
          connectionId={connection.id}
          mapping={editing === "new" ? null : editing}
          subAccounts={subAccounts.data?.subAccounts ?? []}
          onClose={() => setEditing(null)}
          onSaved={(saved) => {
            list.setData((prev) => {
              const others = (prev?.groupMappings ?? []).filter((m) => m.id !== saved.id);
              return { groupMappings: [...others, saved].sort((a, b) => a.group.localeCompare(b.group)) };
            });
            setEditing(null);
          }}
        />
      ) : null}
    </div>
  );
}

const NO_ROLE = "";

function MappingDialog({
  connectionId,
  mapping,
  subAccounts,
  onClose,
  onSaved,
}: {
  connectionId: string;
  mapping: GroupMapping | null;
  subAccounts: SubAccount[];
  onClose: () => void;
  onSaved: (saved: GroupMapping) => void;
}) {
  const [group, setGroup] = useState(mapping?.group ?? "");
  const [role, setRole] = useState<string>(mapping?.role ?? NO_ROLE);
  const [subAccountIds, setSubAccountIds] = useState<string[]>(mapping?.subAccountIds ?? []);
  const saving = useAction();

  function submit() {
    const problem = !group.trim()
      ? "Enter the group's id or name."
      : role === NO_ROLE && subAccountIds.length === 0
        ? "Choose a role, sub-accounts or both."
        : null;
    void saving.run(
      async () => {
        const path = mapping
          ? `${mappingsPath(connectionId)}/${encodeURIComponent(mapping.id)}`
          : mappingsPath(connectionId);
        const result = await api<{ groupMapping: GroupMapping }>(path, {
          method: mapping ? "PUT" : "POST",
          body: { group: group.trim(), role: role === NO_ROLE ? null : (role as Role), subAccountIds },
        });
        onSaved(result.groupMapping);
      },
      { problem },
    );
  }

  return (
    <FormDialog
      open
      title={mapping ? "Edit group mapping" : "Add a group mapping"}
      submitLabel={mapping ? "Save" : "Add Mapping"}
      action={saving}
      onClose={onClose}
      onSubmit={submit}
    >
      <TextField
        label="Group"
        hint="The group's id or name exactly as your identity provider sends it."
        value={group}
        onChange={setGroup}
        error={saving.error}
        required
        autoComplete="off"
        {...VERBATIM_MONO}
      />
      <SelectField
        label="Role"
        hint="The highest role of a person's mapped groups wins."
        value={role}
        onChange={setRole}
        options={[{ value: NO_ROLE, label: "No role (keep the person's role)" }, ...ROLE_OPTIONS]}
      />
      {subAccounts.length ? (
        <ChoiceGroup
          type="checkbox"
          name="subAccountIds"
          legend="Sub-accounts"
          className="choices-columns"
          value={subAccountIds}
          onChange={setSubAccountIds}
          options={subAccounts.map((s) => ({ value: s.id, label: s.name }))}
        />
      ) : (
        <p className="muted">No sub-accounts yet.</p>
      )}
    </FormDialog>
  );
}
