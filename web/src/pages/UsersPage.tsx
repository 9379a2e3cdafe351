import { useEffect, useState } from "react";
import { ApiError, api, errorMessage } from "../api.js";
import { AlertMessage } from "../components/Alert.js";
import { Badge, RoleBadge } from "../components/Badge.js";
import { Button } from "../components/Button.js";
import { Card } from "../components/Card.js";
import { ConfirmDialog, FormDialog } from "../components/Dialog.js";
import { ChoiceGroup, fieldBinder, SelectField, TextField, VERBATIM_MONO } from "../components/Field.js";
import { Form } from "../components/Form.js";
import { Loadable } from "../components/Loadable.js";
import { Menu } from "../components/Menu.js";
import { SettingsPage } from "../components/PageHeader.js";
import { Pagination } from "../components/Pagination.js";
import { EmptyState } from "../components/Spinner.js";
import { actionsColumn, Table } from "../components/Table.js";
import { isEmail, ROLE_OPTIONS } from "../format.js";
import { type Resource, useAction, useApi, useDebounced } from "../hooks.js";
import { withQuery } from "../router.js";
import { useSession } from "../session.js";
import type { Role, SubAccount, User } from "../types.js";

const PAGE_SIZE = 25;

const LANGUAGES = [
  { value: "en", label: "English (en)" },
  { value: "en-US", label: "English, US (en-US)" },
  { value: "en-GB", label: "English, UK (en-GB)" },
  { value: "de-DE", label: "German (de-DE)" },
  { value: "fr-FR", label: "French (fr-FR)" },
  { value: "es-ES", label: "Spanish (es-ES)" },
  { value: "it-IT", label: "Italian (it-IT)" },
  { value: "nl-NL", label: "Dutch (nl-NL)" },
  { value: "pt-BR", label: "Portuguese, Brazil (pt-BR)" },
];

type Confirmable = "deactivate" | "reset";

type Action = { kind: "create" } | { kind: "edit"; user: User } | { kind: Confirmable; user: User };

/** The two row actions that ask first: what the dialog says, the request, and the notice after it. */
const CONFIRMATIONS: Record<
  Confirmable,
  {
    title: string;
    confirmLabel: string;
    message: (user: User) => string;
    request: (user: User) => Promise<unknown>;
    notice: (user: User) => string;
  }
> = {
  deactivate: {
    title: "Deactivate user?",
    confirmLabel: "Deactivate",
    message: (user) =>
      `${user.email} will be signed out everywhere and can no longer sign in. Their history stays in the audit log.`,
    request: (user) => api(`/api/admin/users/${encodeURIComponent(user.id)}`, { method: "DELETE" }),
    notice: (user) => `${user.email} was deactivated and signed out everywhere.`,
  },
  reset: {
    title: "Reset two-factor authentication?",
    confirmLabel: "Reset 2FA",
    message: (user) =>
      `${user.email} will sign in without a second factor until they set it up again (or be asked to, if your agency requires 2FA).`,
    request: (user) => api(`/api/admin/users/${encodeURIComponent(user.id)}/reset-2fa`, { method: "POST" }),
    notice: (user) => `Two-factor authentication was reset for ${user.email}.`,
  },
};

export function UsersPage() {
  const { user: me } = useSession();
  const [search, setSearch] = useState("");
  const q = useDebounced(search.trim(), 300);
  const [page, setPage] = useState(1);
  const users = useApi<{ users: User[]; total: number }>(
    withQuery("/api/admin/users", { q, page, pageSize: PAGE_SIZE }),
  );
  const subAccounts = useApi<{ subAccounts: SubAccount[] }>("/api/admin/sub-accounts");
  const [action, setAction] = useState<Action | null>(null);
  const confirmation = useAction();
  const [notice, setNotice] = useState<string | null>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new search starts at page 1.
  useEffect(() => setPage(1), [q]);

  const subAccountNames = new Map((subAccounts.data?.subAccounts ?? []).map((s) => [s.id, s.name]));

  const confirming =
    action?.kind === "deactivate" || action?.kind === "reset"
      ? { ...CONFIRMATIONS[action.kind], user: action.user }
      : null;

  function confirmAction() {
    if (!confirming) return;
    const { user, request, notice } = confirming;
    void confirmation.run(async () => {
      await request(user);
      setNotice(notice(user));
      setAction(null);
      users.reload();
    });
  }

  return (
    <SettingsPage
      title="Users"
      description="Everyone who can sign in to your agency. The Remote ID links a user to their identity at your SSO provider."
      actions={
        <Button variant="primary" onClick={() => setAction({ kind: "create" })}>
          Add user
        </Button>
      }
    >
      <AlertMessage tone="success" message={notice} onDismiss={() => setNotice(null)} />
      <Card>
        <div className="stack">
          <div className="toolbar">
            <TextField
              label="Search users"
              type="search"
              value={search}
              onChange={setSearch}
              placeholder="Name, email or Remote ID"
              fieldClassName="toolbar-search"
            />
            {users.data ? (
              <p className="toolbar-meta" aria-live="polite">
                {users.data.total} {users.data.total === 1 ? "user" : "users"}
              </p>
            ) : null}
          </div>
          <Loadable resource={users} loadingLabel="Loading users…" errorTitle="Couldn't load users">
            {({ users: rows, total }) => (
              <>
                <Table
                  label="Users"
                  rows={rows}
                  rowClassName={(u) => (u.active ? undefined : "row-muted")}
                  empty={
                    <EmptyState
                      title={q ? "No users match your search" : "No users yet"}
                      action={q ? <Button onClick={() => setSearch("")}>Clear search</Button> : undefined}
                    >
                      {q ? (
                        <p>Try another name, email or Remote ID.</p>
                      ) : (
                        <p>Use “Add user”, or provision people with the API and an integration token.</p>
                      )}
                    </EmptyState>
                  }
                  columns={[
                    {
                      key: "name",
                      header: "Name",
                      className: "cell-primary",
                      render: (u) => u.name || <span className="muted">—</span>,
                    },
                    { key: "email", header: "Email", render: (u) => u.email },
                    {
                      key: "role",
                      header: "Role",
                      render: (u) => <RoleBadge role={u.role} />,
                    },
                    {
                      key: "remote",
                      header: "Remote ID",
                      render: (u) =>
                        u.externalUserId ? <code>{u.externalUserId}</code> : <span className="muted">—</span>,
                    },
                    {
                      key: "subaccounts",
                      header: "Sub-accounts",
                      render: (u) =>
                        u.role === "admin" ? (
                          <span className="muted">All</span>
                        ) : u.subAccountIds.length ? (
                          u.subAccountIds
                            .map(
                              (id) =>
                                `${subAccountNames.get(id) ?? id}${u.groupSubAccountIds.includes(id) ? " (from SSO groups)" : ""}`,
                            )
                            .join(", ")
                        ) : (
                          <Badge tone="warning">None</Badge>
                        ),
                    },
                    {
                      key: "2fa",
                      header: "2FA",
                      render: (u) =>
                        u.twoFactorEnabled ? <Badge tone="success">On</Badge> : <Badge>Off</Badge>,
                    },
                    {
                      key: "status",
                      header: "Status",
                      render: (u) =>
                        u.active ? (
                          <Badge tone="success">Active</Badge>
                        ) : (
                          <Badge tone="danger">Deactivated</Badge>
                        ),
                    },
                    actionsColumn((u: User) => (
                      <div className="row-actions">
                        <Button
                          size="sm"
                          onClick={() => setAction({ kind: "edit", user: u })}
                          aria-label={`Edit ${u.email}`}
                        >
                          Edit
                        </Button>
                        {u.twoFactorEnabled || (u.active && u.id !== me.id) ? (
                          <Menu
                            label={`More actions for ${u.email}`}
                            items={[
                              ...(u.twoFactorEnabled
                                ? [
                                    {
                                      label: "Reset 2FA",
                                      onSelect: () => setAction({ kind: "reset", user: u }),
                                    },
                                  ]
                                : []),
                              ...(u.active && u.id !== me.id
                                ? [
                                    {
                                      label: "Deactivate",
                                      danger: true,
                                      onSelect: () => setAction({ kind: "deactivate", user: u }),
                                    },
                                  ]
                                : []),
                            ]}
                          />
                        ) : (
                          <span className="row-actions-spacer" aria-hidden="true" />
                        )}
                      </div>
                    )),
                  ]}
                />
                <Pagination
                  page={page}
                  pageSize={PAGE_SIZE}
                  total={total}
                  onPage={setPage}
                  label="Users pages"
                />
              </>
            )}
          </Loadable>
        </div>
      </Card>

      <SubAccountsCard subAccounts={subAccounts} />

      {action?.kind === "create" || action?.kind === "edit" ? (
        <UserDialog
          user={action.kind === "edit" ? action.user : null}
          subAccounts={subAccounts.data?.subAccounts ?? []}
          onClose={() => setAction(null)}
          onSaved={(saved, created) => {
            setAction(null);
            setNotice(created ? `${saved.email} was added.` : `${saved.email} was updated.`);
            users.reload();
            subAccounts.reload();
          }}
        />
      ) : null}

      <ConfirmDialog
        open={confirming !== null}
        title={confirming?.title ?? ""}
        message={confirming ? confirming.message(confirming.user) : ""}
        confirmLabel={confirming?.confirmLabel ?? ""}
        action={confirmation}
        onConfirm={confirmAction}
        onCancel={() => setAction(null)}
      />
    </SettingsPage>
  );
}

interface UserForm {
  name: string;
  email: string;
  role: Role;
  externalUserId: string;
  platformLanguage: string;
  subAccountIds: string[];
  password: string;
}

function UserDialog({
  user,
  subAccounts,
  onClose,
  onSaved,
}: {
  user: User | null;
  subAccounts: SubAccount[];
  onClose: () => void;
  onSaved: (user: User, created: boolean) => void;
}) {
  const [form, setForm] = useState<UserForm>(() => ({
    name: user?.name ?? "",
    email: user?.email ?? "",
    role: user?.role ?? "analyst",
    externalUserId: user?.externalUserId ?? "",
    platformLanguage: user?.platformLanguage ?? "en",
    subAccountIds: user?.subAccountIds ?? [],
    password: "",
  }));
  const [errors, setErrors] = useState<Partial<Record<keyof UserForm, string>>>({});
  const saving = useAction();

  function set<K extends keyof UserForm>(key: K, value: UserForm[K]) {
    setForm((prev) => ({ ...prev, [key]: value }));
    if (errors[key]) setErrors((prev) => ({ ...prev, [key]: undefined }));
  }

  const bind = fieldBinder(form, set, errors);

  const languageOptions = LANGUAGES.some((l) => l.value === form.platformLanguage)
    ? LANGUAGES
    : [{ value: form.platformLanguage, label: form.platformLanguage }, ...LANGUAGES];

  function submit() {
    const found: Partial<Record<keyof UserForm, string>> = {};
    if (!isEmail(form.email.trim())) found.email = "Enter a valid email address.";
    if (form.password && form.password.length < 8) found.password = "Use at least 8 characters.";
    setErrors(found);
    if (Object.keys(found).length) return;
    const body: Record<string, unknown> = {
      name: form.name.trim(),
      email: form.email.trim(),
      role: form.role,
      externalUserId: form.externalUserId.trim() || null,
      platformLanguage: form.platformLanguage,
      subAccountIds: form.subAccountIds,
    };
    if (form.password) body.password = form.password;
    void saving.run(
      async () => {
        const result = user
          ? await api<{ user: User }>(`/api/admin/users/${encodeURIComponent(user.id)}`, {
              method: "PUT",
              body,
            })
          : await api<{ user: User }>("/api/admin/users", { method: "POST", body });
        onSaved(result.user, !user);
      },
      {
        keepBusy: true,
        onError: (cause) => {
          if (cause instanceof ApiError && cause.field) {
            const key = cause.field.replace(/^\/+|^body\./, "").split(/[./]/)[0] as keyof UserForm;
            if (key in form) {
              // Shown next to its field.
              setErrors({ [key]: cause.message });
              return null;
            }
          }
          return errorMessage(cause);
        },
      },
    );
  }

  return (
    <FormDialog
      title={user ? `Edit ${user.name || user.email}` : "Add user"}
      size="lg"
      submitLabel={user ? "Save changes" : "Add user"}
      action={saving}
      onClose={onClose}
      onSubmit={submit}
    >
      <AlertMessage message={saving.error} />
      <div className="form-grid form-grid-2">
        <TextField label="Name" {...bind("name")} autoComplete="off" />
        <TextField label="Email" type="email" {...bind("email")} required autoComplete="off" />
        <SelectField label="Role" {...bind("role")} options={ROLE_OPTIONS} />
        <SelectField label="Platform language" {...bind("platformLanguage")} options={languageOptions} />
        <TextField
          label="Remote ID"
          optional
          hint="The user's unique ID at your identity provider (externalUserId), e.g. the sub claim."
          {...bind("externalUserId")}
          {...VERBATIM_MONO}
          fieldClassName="span-2"
        />
      </div>
      {subAccounts.length ? (
        <ChoiceGroup
          type="checkbox"
          name="subAccountIds"
          legend="Sub-accounts"
          hint={
            form.role === "admin"
              ? "Admins reach every sub-account of the agency."
              : "Analysts need at least one sub-account to sign in."
          }
          className="choices-columns"
          value={form.subAccountIds}
          onChange={(v) => set("subAccountIds", v)}
          error={errors.subAccountIds}
          options={subAccounts.map((s) => ({ value: s.id, label: s.name }))}
        />
      ) : (
        <p className="muted">No sub-accounts yet. Create them in the Sub-accounts section of this page.</p>
      )}
      <TextField
        label="Password"
        optional
        type="password"
        hint={
          user
            ? "Leave blank to keep the current password. Setting one signs the user out everywhere."
            : "Without a password the user signs in with SSO or Google."
        }
        {...bind("password")}
        autoComplete="new-password"
      />
    </FormDialog>
  );
}

function SubAccountsCard({ subAccounts }: { subAccounts: Resource<{ subAccounts: SubAccount[] }> }) {
  const [name, setName] = useState("");
  const creation = useAction();

  function create() {
    void creation.run(
      async () => {
        await api("/api/admin/sub-accounts", { method: "POST", body: { name: name.trim() } });
        setName("");
        subAccounts.reload();
      },
      { problem: name.trim() ? null : "Enter a name." },
    );
  }

  return (
    <Card
      title="Sub-accounts"
      description="Analysts see only the sub-accounts they belong to; admins see all of them."
    >
      <div className="stack">
        <Form className="inline-form" onSubmit={create}>
          <TextField
            label="New sub-account name"
            value={name}
            onChange={setName}
            error={creation.error}
            fieldClassName="inline-form-field"
            autoComplete="off"
          />
          <Button type="submit" loading={creation.busy}>
            Create sub-account
          </Button>
        </Form>
        <Loadable
          resource={subAccounts}
          loadingLabel="Loading sub-accounts…"
          errorTitle="Couldn't load sub-accounts"
          keepDataOnError
        >
          {(data) => (
            <Table
              label="Sub-accounts"
              rows={data.subAccounts}
              empty={
                <EmptyState title="No sub-accounts yet">
                  Create one above, then add analysts to it.
                </EmptyState>
              }
              columns={[
                { key: "name", header: "Name", className: "cell-primary", render: (s) => s.name },
                { key: "members", header: "Members", render: (s) => s.memberCount },
              ]}
            />
          )}
        </Loadable>
      </div>
    </Card>
  );
}
