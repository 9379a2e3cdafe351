import type { SummaryRow } from "./model.js";

/** A definition list of a connection's settings. */
export function SummaryList({ rows }: { rows: SummaryRow[] }) {
  return (
    <dl className="summary">
      {rows.map((row) => (
        <div key={row.label} className="summary-row">
          <dt>{row.label}</dt>
          <dd className={row.mono && row.value ? "mono" : undefined}>
            {row.value ?? <span className="muted">Not set</span>}
          </dd>
        </div>
      ))}
    </dl>
  );
}
