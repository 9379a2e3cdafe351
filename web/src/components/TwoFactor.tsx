import { useEffect, useRef, useState } from "react";
import { ApiError, api, errorMessage } from "../api.js";
import { useAction } from "../hooks.js";
import { UI } from "../messages.js";
import type { TwoFactorSetup as SetupData } from "../types.js";
import { Alert } from "./Alert.js";
import { Button } from "./Button.js";
import { CopyButton } from "./CopyButton.js";
import { TextField } from "./Field.js";
import { Form } from "./Form.js";
import { ErrorState, LoadingState } from "./Spinner.js";

interface CodeFieldProps {
  value: string;
  onChange: (value: string) => void;
  error?: string | null;
  label?: string;
  hint?: string;
  autoFocus?: boolean;
}

const CODE_HINT = "Enter the 6-digit code from your authenticator app.";

/** Why `code` can't be sent yet (it must have 6 digits), or null when it can. */
export function codeProblem(code: string): string | null {
  return code.length === 6 ? null : CODE_HINT;
}

/** The 6-digit authenticator code input. */
export function CodeField({
  value,
  onChange,
  error,
  label = "Authentication code",
  hint = CODE_HINT,
  autoFocus,
}: CodeFieldProps) {
  return (
    <TextField
      label={label}
      hint={hint}
      error={error}
      value={value}
      onChange={(next) => onChange(next.replace(/\D/g, "").slice(0, 6))}
      inputMode="numeric"
      autoComplete="one-time-code"
      pattern="[0-9]{6}"
      maxLength={6}
      required
      autoFocus={autoFocus}
      className="input-code"
      data-autofocus={autoFocus ? "" : undefined}
    />
  );
}

/** Formats a base32 secret in groups of four for reading aloud or typing. */
function groupSecret(secret: string): string {
  return secret
    .replace(/\s+/g, "")
    .replace(/(.{4})/g, "$1 ")
    .trim();
}

interface TwoFactorSetupProps {
  /** Called with the backup codes once the first code is confirmed. */
  onConfirmed: (backupCodes: string[]) => void;
  onCancel?: () => void;
  /** Called when the API answers 401 (e.g. the pending sign-in expired). */
  onUnauthorized?: (error: ApiError) => void;
}

/** Enrolment: fetches a new secret, shows the QR code and the secret, confirms a first code. */
export function TwoFactorSetup({ onConfirmed, onCancel, onUnauthorized }: TwoFactorSetupProps) {
  const [setup, setSetup] = useState<SetupData | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [code, setCode] = useState("");
  const confirmation = useAction();
  const started = useRef(false);
  const [attempt, setAttempt] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` re-runs the setup after an error.
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    setLoadError(null);
    api<SetupData>("/api/account/2fa/setup", { method: "POST" })
      .then(setSetup)
      .catch((cause: unknown) => {
        started.current = false;
        if (cause instanceof ApiError && cause.status === 401 && onUnauthorized) onUnauthorized(cause);
        setLoadError(cause);
      });
  }, [attempt]);

  function confirm() {
    void confirmation.run(
      async () => {
        const result = await api<{ backupCodes: string[] }>("/api/account/2fa/confirm", {
          method: "POST",
          body: { code },
        });
        onConfirmed(result.backupCodes);
      },
      {
        problem: codeProblem(code),
        keepBusy: true,
        onError: (cause) => {
          if (cause instanceof ApiError && cause.status === 401 && onUnauthorized) onUnauthorized(cause);
          return errorMessage(cause);
        },
      },
    );
  }

  if (loadError) {
    return (
      <ErrorState
        error={loadError}
        onRetry={() => setAttempt((a) => a + 1)}
        title="Couldn't start two-factor setup"
      />
    );
  }
  if (!setup) return <LoadingState label="Preparing your authenticator setup…" />;

  return (
    <Form className="stack" onSubmit={confirm}>
      <ol className="setup-steps">
        <li>
          <p className="setup-step-title">Scan this QR code with your authenticator app</p>
          <p className="muted">
            Google Authenticator, Microsoft Authenticator, 1Password, Authy and others work.
          </p>
          <div className="qr-box">
            <img src={setup.qrCode} alt="QR code for your authenticator app" width={176} height={176} />
          </div>
        </li>
        <li>
          <p className="setup-step-title">Or enter this key by hand</p>
          <div className="secret-row">
            <code className="secret-text">{groupSecret(setup.secret)}</code>
            <CopyButton text={setup.secret.replace(/\s+/g, "")} label="Copy key" size="sm" />
          </div>
        </li>
        <li>
          <p className="setup-step-title">Enter the code your app shows</p>
          <CodeField value={code} onChange={setCode} error={confirmation.error} />
        </li>
      </ol>
      <div className="form-actions">
        <Button type="submit" variant="primary" loading={confirmation.busy}>
          Verify
        </Button>
        {onCancel ? (
          <Button onClick={onCancel} disabled={confirmation.busy}>
            Cancel
          </Button>
        ) : null}
      </div>
    </Form>
  );
}

interface BackupCodesProps {
  codes: string[];
  onDone: () => void;
  doneLabel?: string;
}

/** Shows backup codes once, with Download (.txt) and Copy. */
export function BackupCodes({ codes, onDone, doneLabel = "I've saved them" }: BackupCodesProps) {
  const text = `CoPilot backup codes\nEach code can be used once.\n\n${codes.join("\n")}\n`;

  function download() {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = "copilot-backup-codes.txt";
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  return (
    <div className="stack">
      <Alert tone="warning" title="Your backup codes">
        <p>{UI.backupCodesShownOnce}</p>
      </Alert>
      <ul className="backup-codes" aria-label="Backup codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ul>
      <div className="form-actions">
        <Button onClick={download}>Download</Button>
        <CopyButton text={codes.join("\n")} label="Copy codes" />
      </div>
      <div className="form-actions form-actions-end">
        <Button variant="primary" onClick={onDone}>
          {doneLabel}
        </Button>
      </div>
    </div>
  );
}
