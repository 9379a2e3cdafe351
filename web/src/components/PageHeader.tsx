import type { ReactNode } from "react";
import { useTitle } from "../hooks.js";

/** The navigation group of the admin pages, and their eyebrow. */
export const COMPANY_SETTINGS = "Company Settings";

interface PageHeaderProps {
  title: string;
  /** Small text above the title, e.g. "Company Settings". */
  eyebrow?: string;
  description?: ReactNode;
  actions?: ReactNode;
}

export function PageHeader({ title, eyebrow, description, actions }: PageHeaderProps) {
  return (
    <header className="page-header">
      <div className="page-heading">
        {eyebrow ? (
          <p className="page-eyebrow">
            {eyebrow}
            <span aria-hidden="true"> →</span>
          </p>
        ) : null}
        <h1 className="page-title" tabIndex={-1}>
          {title}
        </h1>
        {description ? <p className="page-description">{description}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </header>
  );
}

interface PageProps extends PageHeaderProps {
  /** The browser tab's title, when it is not the page's. */
  documentTitle?: string;
  children?: ReactNode;
}

/** A page of the app: sets the document title, then shows the header and the content. */
export function Page({ documentTitle, children, ...header }: PageProps) {
  useTitle(documentTitle ?? header.title);
  return (
    <div className="page">
      <PageHeader {...header} />
      {children}
    </div>
  );
}

/** A page of the Company Settings section. */
export function SettingsPage(props: Omit<PageProps, "eyebrow">) {
  return <Page eyebrow={COMPANY_SETTINGS} {...props} />;
}
