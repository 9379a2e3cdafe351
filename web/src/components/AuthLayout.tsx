import type { ReactNode } from "react";
import { type Action, useTitle } from "../hooks.js";
import { AlertMessage } from "./Alert.js";
import { Button } from "./Button.js";
import { Form } from "./Form.js";
import { Logo } from "./Logo.js";

/** The centred layout of the sign-in pages; it sets the document title too. */
export function AuthLayout({
  title,
  documentTitle,
  subtitle,
  children,
}: {
  title: string;
  /** The browser tab's title, when it is not the page's. */
  documentTitle?: string;
  subtitle?: ReactNode;
  children: ReactNode;
}) {
  useTitle(documentTitle ?? title);
  return (
    <div className="auth-page">
      <header className="auth-brand">
        <Logo size={32} />
        <span className="auth-brand-name">CoPilot</span>
      </header>
      <main id="main" className="auth-main" tabIndex={-1}>
        <div className="auth-card">
          <div className="auth-heading">
            <h1 className="auth-title" tabIndex={-1}>
              {title}
            </h1>
            {subtitle ? <p className="auth-subtitle">{subtitle}</p> : null}
          </div>
          {children}
        </div>
      </main>
      <footer className="auth-footer">
        <p>Secured sign-in by CoPilot</p>
      </footer>
    </div>
  );
}

interface AuthFormProps {
  /** The request the form sends: its error is shown above the fields, and the button spins while it runs. */
  action: Pick<Action, "busy" | "error">;
  /** More for the error alert (e.g. a link to sign in again). */
  errorDetail?: ReactNode;
  submitLabel: string;
  onSubmit: () => void;
  /** The fields. */
  children: ReactNode;
  /** Content below the button (e.g. links). */
  footer?: ReactNode;
}

/** A form of the sign-in pages: its error, the fields and one full-width submit button. */
export function AuthForm({ action, errorDetail, submitLabel, onSubmit, children, footer }: AuthFormProps) {
  return (
    <Form className="stack" onSubmit={onSubmit}>
      <AlertMessage message={action.error}>{errorDetail}</AlertMessage>
      {children}
      <Button type="submit" variant="primary" className="btn-block" loading={action.busy}>
        {submitLabel}
      </Button>
      {footer}
    </Form>
  );
}
