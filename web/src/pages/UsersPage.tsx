import { type FormEvent, useEffect, useId, useState } from "react";
import { ApiError, api, errorMessage } from "../api.js";
import { Alert } from "../components/Alert.js";
import { Badge } from "../components/Badge.js";
import { Button } from "../components/Button.js";
import { Card } from "../components/Card.js";
import { ConfirmDialog, Dialog } from "../components/Dialog.js";
import { ChoiceGroup, SelectField, TextField } from "../components/Field.js";
import { Menu } from "../components/Menu.js";
import { PageHeader } from "../components/PageHeader.js";
import { Pagination } from "../components/Pagination.js";
import { EmptyState, ErrorState, LoadingState } from "../components/Spinner.js";
import { Table } from "../components/Table.js";
import { ROLE_OPTIONS, roleLabel } from "../format.js";
import { useApi, useDebounced, useTitle } from "../hooks.js";
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

type Action =
  | { kind: "create" }
  | { kind: "edit"; user: User }
  | { kind: "deactivate"; user: User }
  | { kind: "reset"; user: User };

export function UsersPage() {
  useTitle("Users");
  const { user: me } = useSession();
  const [search, setSearch] = useState("");
  const q = useDebounced(search.trim(), 300);
  const [page, setPage] = useState(1);
  const users = useApi<{ users: User[]; total: number }>(
    withQuery("/api/admin/users", { q, page, pageSize: PAGE_SIZE }),
  );
  const subAccounts = useApi<{ subAccounts: SubAccount[] }>("/api/admin/sub-accounts");
  const [action, setAction] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new search starts at page 1.
  useEffect(() => setPage(1), [q]);

  const subAccountNames = new Map((subAccounts.data?.subAccounts ?? []).map((s) => [s.id, s.name]));

  async function confirmAction() {
    if (!action || (action.kind !== "deactivate" && action.kind !== "reset")) return;
    setBusy(true);
    setActionError(null);
    try {
      if (action.kind === "deactivate") {
        await api(`/api/admin/users/${encodeURIComponent(action.user.id)}`, { method: "DELETE" });
        setNotice(`${action.user.email} was deactivated and signed out everywhere.`);
      } else {
        await api(`/api/admin/users/${encodeURIComponent(action.user.id)}/reset-2fa`, { method: "POST" });
        setNotice(`Two-factor authentication was reset for ${action.user.email}.`);
      }
      setAction(null);
      users.reload();
    } catch (cause) {
      setActionError(errorMessage(cause));
    } finally {
      setBusy(false);
    }
  }

  const rows = users.data?.users ?? [];

  return (
    <div className="page">
      <PageHeader
        eyebrow="Company Settings"
        title="Users"
        description="Everyone who can sign in to your agency. The Remote ID links a user to their identity at your SSO provider."
        actions={
          <Button variant="primary" onClick={() => setAction({ kind: "create" })}>
            Add user
          </Button>
        }
      />
      {notice ? (
        <Alert tone="success" onDismiss={() => setNotice(null)}>
          <p>{notice}</p>
        </Alert>
      ) : null}
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
          {users.loading && !users.data ? (
            <LoadingState label="Loading users…" />
          ) : users.error ? (
            <ErrorState error={users.error} onRetry={users.reload} title="Couldn't load users" />
          ) : (
            <>
              <Table
                label="Users"
                rows={rows}
                rowKey={(u) => u.id}
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
                    render: (u) => (
                      <Badge tone={u.role === "admin" ? "accent" : "neutral"}>{roleLabel(u.role)}</Badge>
                    ),
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
                        u.subAccountIds.map((id) => subAccountNames.get(id) ?? id).join(", ")
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
                  {
                    key: "actions",
                    header: <span className="visually-hidden">Actions</span>,
                    className: "cell-actions",
                    render: (u) => (
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
                    ),
                  },
                ]}
              />
              {users.data ? (
                <Pagination
                  page={page}
                  pageSize={PAGE_SIZE}
                  total={users.data.total}
                  onPage={setPage}
                  label="Users pages"
                />
              ) : null}
            </>
          )}
        </div>
      </Card>

      <SubAccountsCard
        subAccounts={subAccounts.data?.subAccounts ?? null}
        loading={subAccounts.loading}
        error={subAccounts.error}
        onRetry={subAccounts.reload}
        onCreated={subAccounts.reload}
      />

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
        open={action?.kind === "deactivate"}
        title="Deactivate user?"
        message={
          action?.kind === "deactivate"
            ? `${action.user.email} will be signed out everywhere and can no longer sign in. Their history stays in the audit log.`
            : ""
        }
        confirmLabel="Deactivate"
        busy={busy}
        onConfirm={confirmAction}
        onCancel={() => {
          setAction(null);
          setActionError(null);
        }}
        error={
          actionError ? (
            <Alert tone="error">
              <p>{actionError}</p>
            </Alert>
          ) : null
        }
      />
      <ConfirmDialog
        open={action?.kind === "reset"}
        title="Reset two-factor authentication?"
        message={
          action?.kind === "reset"
            ? `${action.user.email} will sign in without a second factor until they set it up again (or be asked to, if your agency requires 2FA).`
            : ""
        }
        confirmLabel="Reset 2FA"
        busy={busy}
        onConfirm={confirmAction}
        onCancel={() => {
          setAction(null);
          setActionError(null);
        }}
        error={
          actionError ? (
            <Alert tone="error">
              <p>{actionError}</p>
            </Alert>
          ) : null
        }
      />
    </div>
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
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formId = `user-form${useId()}`;

  function set<K extends keyof UserForm>(key: K, value: UserForm[K]) {
    setForm((prev) => ({ ...prev, [key]: value }));
    if (errors[key]) setErrors((prev) => ({ ...prev, [key]: undefined }));
  }

  const languageOptions = LANGUAGES.some((l) => l.value === form.platformLanguage)
    ? LANGUAGES
    : [{ value: form.platformLanguage, label: form.platformLanguage }, ...LANGUAGES];

  async function submit(event: FormEvent) {
    event.preventDefault();
    const found: Partial<Record<keyof UserForm, string>> = {};
    if (!form.email.trim() || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(form.email.trim()))
      found.email = "Enter a valid email address.";
    if (form.password && form.password.length < 8) found.password = "Use at least 8 characters.";
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    setFormError(null);
    const body: Record<string, unknown> = {
      name: form.name.trim(),
      email: form.email.trim(),
      role: form.role,
      externalUserId: form.externalUserId.trim() || null,
      platformLanguage: form.platformLanguage,
      subAccountIds: form.subAccountIds,
    };
    if (form.password) body.password = form.password;
    try {
      const result = user
        ? await api<{ user: User }>(`/api/admin/users/${encodeURIComponent(user.id)}`, {
            method: "PUT",
            body,
          })
        : await api<{ user: User }>("/api/admin/users", { method: "POST", body });
      onSaved(result.user, !user);
    } catch (cause) {
      if (cause instanceof ApiError && cause.field) {
        const key = cause.field.replace(/^\/+|^body\./, "").split(/[./]/)[0] as keyof UserForm;
        if (key in form) {
          setErrors({ [key]: cause.message });
          setBusy(false);
          return;
        }
      }
      setFormError(errorMessage(cause));
      setBusy(false);
    }
  }

  return (
    <Dialog
      open
      title={user ? `Edit ${user.name || user.email}` : "Add user"}
      onClose={onClose}
      dismissible={!busy}
      size="lg"
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" form={formId} variant="primary" loading={busy}>
            {user ? "Save changes" : "Add user"}
          </Button>
        </>
      }
    >
      <form id={formId} className="stack" onSubmit={submit} noValidate>
        {formError ? (
          <Alert tone="error">
            <p>{formError}</p>
          </Alert>
        ) : null}
        <div className="form-grid form-grid-2">
          <TextField
            label="Name"
            value={form.name}
            onChange={(v) => set("name", v)}
            error={errors.name}
            autoComplete="off"
          />
          <TextField
            label="Email"
            type="email"
            value={form.email}
            onChange={(v) => set("email", v)}
            error={errors.email}
            required
            autoComplete="off"
          />
          <SelectField
            label="Role"
            value={form.role}
            onChange={(v) => set("role", v as Role)}
            options={ROLE_OPTIONS}
            error={errors.role}
          />
          <SelectField
            label="Platform language"
            value={form.platformLanguage}
            onChange={(v) => set("platformLanguage", v)}
            options={languageOptions}
            error={errors.platformLanguage}
          />
          <TextField
            label="Remote ID"
            optional
            hint="The user's unique ID at your identity provider (externalUserId), e.g. the sub claim."
            value={form.externalUserId}
            onChange={(v) => set("externalUserId", v)}
            error={errors.externalUserId}
            spellCheck={false}
            autoCapitalize="none"
            className="input-mono"
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
          value={form.password}
          onChange={(v) => set("password", v)}
          error={errors.password}
          autoComplete="new-password"
        />
      </form>
    </Dialog>
  );
}

function SubAccountsCard({
  subAccounts,
  loading,
  error,
  onRetry,
  onCreated,
}: {
  subAccounts: SubAccount[] | null;
  loading: boolean;
  error: unknown;
  onRetry: () => void;
  onCreated: () => void;
}) {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);

  async function create(event: FormEvent) {
    event.preventDefault();
    if (!name.trim()) {
      setFormError("Enter a name.");
      return;
    }
    setBusy(true);
    setFormError(null);
    try {
      await api("/api/admin/sub-accounts", { method: "POST", body: { name: name.trim() } });
      setName("");
      onCreated();
    } catch (cause) {
      setFormError(errorMessage(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card
      title="Sub-accounts"
      description="Analysts see only the sub-accounts they belong to; admins see all of them."
    >
      <div className="stack">
        <form className="inline-form" onSubmit={create} noValidate>
          <TextField
            label="New sub-account name"
            value={name}
            onChange={setName}
            error={formError}
            fieldClassName="inline-form-field"
            autoComplete="off"
          />
          <Button type="submit" loading={busy}>
            Create sub-account
          </Button>
        </form>
        {loading && !subAccounts ? (
          <LoadingState label="Loading sub-accounts…" />
        ) : error && !subAccounts ? (
          <ErrorState error={error} onRetry={onRetry} title="Couldn't load sub-accounts" />
        ) : (
          <Table
            label="Sub-accounts"
            rows={subAccounts ?? []}
            rowKey={(s) => s.id}
            empty={
              <EmptyState title="No sub-accounts yet">Create one above, then add analysts to it.</EmptyState>
            }
            columns={[
              { key: "name", header: "Name", className: "cell-primary", render: (s) => s.name },
              { key: "members", header: "Members", render: (s) => s.memberCount },
            ]}
          />
        )}
      </div>
    </Card>
  );
}
