import type { ReactNode } from "react";

export interface Detail {
  term: string;
  value: ReactNode;
}

/** Label–value pairs (a profile, an agency) as a definition list. */
export function Details({ items }: { items: Detail[] }) {
  return (
    <dl className="details">
      {items.map((item) => (
        <div key={item.term}>
          <dt>{item.term}</dt>
          <dd>{item.value}</dd>
        </div>
      ))}
    </dl>
  );
}
