import { type ReactNode, useId, useState } from "react";

interface CollapsibleProps {
  title: string;
  level?: 3 | 4;
  defaultOpen?: boolean;
  /** Shown next to the title in the header (e.g. a status badge). */
  meta?: ReactNode;
  children: ReactNode;
}

/** A section whose body can be shown or hidden; the heading contains the toggle button. */
export function Collapsible({ title, level = 3, defaultOpen = true, meta, children }: CollapsibleProps) {
  const [open, setOpen] = useState(defaultOpen);
  const id = useId();
  const panelId = `collapsible${id}`;
  const Heading = level === 3 ? "h3" : "h4";
  return (
    <div className={open ? "collapsible collapsible-open" : "collapsible"}>
      <div className="collapsible-header">
        <Heading className="collapsible-heading">
          <button
            type="button"
            className="collapsible-trigger"
            aria-expanded={open}
            aria-controls={panelId}
            onClick={() => setOpen((v) => !v)}
          >
            <svg
              className="collapsible-chevron"
              viewBox="0 0 20 20"
              width="16"
              height="16"
              aria-hidden="true"
            >
              <path
                d="M7 5l5 5-5 5"
                fill="none"
                stroke="currentColor"
                strokeWidth="1.8"
                strokeLinecap="round"
                strokeLinejoin="round"
              />
            </svg>
            {title}
          </button>
        </Heading>
        {meta ? <div className="collapsible-meta">{meta}</div> : null}
      </div>
      <div id={panelId} className="collapsible-panel" hidden={!open}>
        {children}
      </div>
    </div>
  );
}
