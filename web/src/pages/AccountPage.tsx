import { useState } from "react";
import { api } from "../api.js";
import { AlertMessage } from "../components/Alert.js";
import { Badge } from "../components/Badge.js";
import { Button } from "../components/Button.js";
import { Card } from "../components/Card.js";
import { Details } from "../components/Details.js";
import { FormDialog } from "../components/Dialog.js";
import { Loadable } from "../components/Loadable.js";
import { Page } from "../components/PageHeader.js";
import { BackupCodes, CodeField, codeProblem, TwoFactorSetup } from "../components/TwoFactor.js";
import { roleLabel } from "../format.js";
import { useAction, useApi } from "../hooks.js";
import { useSession } from "../session.js";
import type { TwoFactorState } from "../types.js";

type Mode = "idle" | "enrolling" | "codes" | "regenerate" | "disable";

export function AccountPage() {
  const { user, agency, refresh } = useSession();
  const twoFactor = useApi<TwoFactorState>("/api/account/2fa");
  const [mode, setMode] = useState<Mode>("idle");
  const [codes, setCodes] = useState<string[]>([]);
  const [notice, setNotice] = useState<string | null>(null);

  function showCodes(next: string[]) {
    setCodes(next);
    setMode("codes");
    twoFactor.reload();
    refresh();
  }

  return (
    <Page title="Account" description="Your profile and how you sign in.">
      <AlertMessage tone="success" message={notice} onDismiss={() => setNotice(null)} />
      <Card title="Profile">
        <Details
          items={[
            { term: "Name", value: user.name || <span className="muted">Not set</span> },
            { term: "Email", value: user.email },
            { term: "Role", value: roleLabel(user.role) },
            { term: "Agency", value: agency.name },
            { term: "Platform language", value: user.platformLanguage },
            {
              term: "Remote ID (SSO)",
              value: user.externalUserId ? (
                <code>{user.externalUserId}</code>
              ) : (
                <span className="muted">Not linked</span>
              ),
            },
          ]}
        />
      </Card>

      <Card
        title="Two-factor authentication"
        description="A code from an authenticator app is asked after your password, Google or SSO sign-in."
        actions={
          twoFactor.data ? (
            twoFactor.data.enabled ? (
              <Badge tone="success">On</Badge>
            ) : (
              <Badge tone="warning">Off</Badge>
            )
          ) : undefined
        }
      >
        <Loadable resource={twoFactor} errorTitle="Couldn't load your 2FA status" keepDataOnError>
          {(data) =>
            mode === "enrolling" ? (
              <TwoFactorSetup onConfirmed={showCodes} onCancel={() => setMode("idle")} />
            ) : mode === "codes" ? (
              <BackupCodes
                codes={codes}
                onDone={() => {
                  setMode("idle");
                  setCodes([]);
                  setNotice("Your backup codes are saved. Keep them somewhere safe.");
                }}
              />
            ) : data.enabled ? (
              <div className="stack">
                <p>
                  Two-factor authentication is on.{" "}
                  <span className={data.backupCodesRemaining <= 2 ? "text-warning" : "muted"}>
                    {data.backupCodesRemaining} backup {data.backupCodesRemaining === 1 ? "code" : "codes"}{" "}
                    left.
                  </span>
                </p>
                <div className="form-actions">
                  <Button onClick={() => setMode("regenerate")}>Regenerate backup codes</Button>
                  <Button variant="ghost" className="btn-ghost-danger" onClick={() => setMode("disable")}>
                    Turn off 2FA
                  </Button>
                </div>
              </div>
            ) : (
              <div className="stack">
                <p className="muted">
                  Protect your account with an authenticator app such as Google Authenticator or 1Password.
                </p>
                <div>
                  <Button variant="primary" onClick={() => setMode("enrolling")}>
                    Set up two-factor authentication
                  </Button>
                </div>
              </div>
            )
          }
        </Loadable>
      </Card>

      <CodeDialog
        open={mode === "regenerate"}
        title="Regenerate backup codes"
        description="Your current backup codes stop working. Enter a code from your authenticator app to continue."
        confirmLabel="Regenerate"
        onClose={() => setMode("idle")}
        onSubmit={async (code) => {
          const result = await api<{ backupCodes: string[] }>("/api/account/2fa/backup-codes", {
            method: "POST",
            body: { code },
          });
          showCodes(result.backupCodes);
        }}
      />
      <CodeDialog
        open={mode === "disable"}
        title="Turn off two-factor authentication"
        description="Your account will be protected by your sign-in method only. Enter a code from your authenticator app to confirm."
        confirmLabel="Turn off 2FA"
        danger
        onClose={() => setMode("idle")}
        onSubmit={async (code) => {
          await api("/api/account/2fa/disable", { method: "POST", body: { code } });
          setMode("idle");
          setNotice("Two-factor authentication is off.");
          twoFactor.reload();
          refresh();
        }}
      />
    </Page>
  );
}

function CodeDialog({
  open,
  title,
  description,
  confirmLabel,
  danger,
  onClose,
  onSubmit,
}: {
  open: boolean;
  title: string;
  description: string;
  confirmLabel: string;
  danger?: boolean;
  onClose: () => void;
  onSubmit: (code: string) => Promise<void>;
}) {
  const [code, setCode] = useState("");
  const submission = useAction();

  function submit() {
    void submission.run(
      async () => {
        await onSubmit(code);
        setCode("");
      },
      { problem: codeProblem(code) },
    );
  }

  return (
    <FormDialog
      open={open}
      title={title}
      description={description}
      size="sm"
      submitLabel={confirmLabel}
      submitVariant={danger ? "danger" : "primary"}
      action={submission}
      onClose={() => {
        setCode("");
        onClose();
      }}
      onSubmit={submit}
    >
      <CodeField value={code} onChange={setCode} error={submission.error} />
    </FormDialog>
  );
}
