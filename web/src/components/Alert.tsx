import type { ReactNode } from "react";
import { classes } from "../classes.js";

export type AlertTone = "error" | "success" | "warning" | "info";

interface AlertProps {
  tone?: AlertTone;
  title?: ReactNode;
  children?: ReactNode;
  onDismiss?: () => void;
  className?: string;
}

const ICONS: Record<AlertTone, string> = {
  error: "M10 2a8 8 0 100 16 8 8 0 000-16zm0 4v5m0 3h.01",
  warning: "M10 3l8 14H2L10 3zm0 5v4m0 3h.01",
  success: "M10 2a8 8 0 100 16 8 8 0 000-16zM6.5 10.5l2.3 2.3 4.7-5",
  info: "M10 2a8 8 0 100 16 8 8 0 000-16zm0 7v5m0-8h.01",
};

/** A message box. Errors are announced at once (role="alert"), the rest politely (role="status"). */
export function Alert({ tone = "info", title, children, onDismiss, className }: AlertProps) {
  return (
    <div
      className={classes("alert", `alert-${tone}`, className)}
      role={tone === "error" ? "alert" : "status"}
    >
      <svg className="alert-icon" viewBox="0 0 20 20" width="20" height="20" aria-hidden="true">
        <path
          d={ICONS[tone]}
          fill="none"
          stroke="currentColor"
          strokeWidth="1.7"
          strokeLinecap="round"
          strokeLinejoin="round"
        />
      </svg>
      <div className="alert-content">
        {title ? <p className="alert-title">{title}</p> : null}
        {children ? <div className="alert-body">{children}</div> : null}
      </div>
      {onDismiss ? (
        <button type="button" className="icon-button alert-dismiss" aria-label="Dismiss" onClick={onDismiss}>
          <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
            <path d="M5 5l10 10M15 5L5 15" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
          </svg>
        </button>
      ) : null}
    </div>
  );
}

/** An alert with one message (an error unless `tone` says otherwise), or nothing when there is none. */
export function AlertMessage({
  message,
  tone = "error",
  children,
  ...alert
}: AlertProps & { message: string | null | undefined }) {
  return message ? (
    <Alert tone={tone} {...alert}>
      <p>{message}</p>
      {children}
    </Alert>
  ) : null;
}
