import { type ReactNode, useId } from "react";
import { classes } from "../classes.js";

interface CardProps {
  title?: ReactNode;
  /** Heading level of the title (pages use h1 for their title, so cards default to h2). */
  level?: 2 | 3;
  description?: ReactNode;
  actions?: ReactNode;
  children?: ReactNode;
  className?: string;
  id?: string;
}

export function Card({ title, level = 2, description, actions, children, className, id }: CardProps) {
  const generated = useId();
  const titleId = `card${generated}-title`;
  const Heading = level === 2 ? "h2" : "h3";
  return (
    <section id={id} className={classes("card", className)} aria-labelledby={title ? titleId : undefined}>
      {title || actions ? (
        <div className="card-header">
          <div className="card-heading">
            {title ? (
              <Heading id={titleId} className="card-title">
                {title}
              </Heading>
            ) : null}
            {description ? <p className="card-description">{description}</p> : null}
          </div>
          {actions ? <div className="card-actions">{actions}</div> : null}
        </div>
      ) : null}
      {children !== undefined ? <div className="card-body">{children}</div> : null}
    </section>
  );
}
