import type { ReactNode } from "react";

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
