import type { ReactNode } from "react";
import { errorMessage } from "../api.js";
import { Alert } from "./Alert.js";
import { Button } from "./Button.js";

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <span className="spinner-wrap" role="status">
      <span className="spinner" aria-hidden="true" />
      <span className="spinner-label">{label}</span>
    </span>
  );
}

/** A block-level loading placeholder for a page or card. */
export function LoadingState({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="state state-loading">
      <Spinner label={label} />
    </div>
  );
}

/** A block-level error with a retry button. */
export function ErrorState({
  error,
  onRetry,
  title = "Couldn't load this page",
}: {
  error: unknown;
  onRetry?: () => void;
  title?: string;
}) {
  return (
    <Alert tone="error" title={title}>
      <p>{errorMessage(error)}</p>
      {onRetry ? (
        <p className="alert-actions">
          <Button size="sm" onClick={onRetry}>
            Try again
          </Button>
        </p>
      ) : null}
    </Alert>
  );
}

export function EmptyState({
  title,
  children,
  action,
}: {
  title: ReactNode;
  children?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className="state state-empty">
      <p className="state-title">{title}</p>
      {children ? <div className="state-body">{children}</div> : null}
      {action ? <div className="state-action">{action}</div> : null}
    </div>
  );
}
