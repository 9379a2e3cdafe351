import type { ReactNode } from "react";
import { Logo } from "./Logo.js";

/** The centred layout of the sign-in pages. */
export function AuthLayout({
  title,
  subtitle,
  children,
}: {
  title: string;
  subtitle?: ReactNode;
  children: ReactNode;
}) {
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
