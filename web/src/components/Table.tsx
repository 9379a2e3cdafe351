import type { ReactNode } from "react";

export interface Column<T> {
  key: string;
  header: ReactNode;
  render: (row: T) => ReactNode;
  className?: string;
}

interface TableProps<T> {
  /** Accessible name of the table (also its caption, visually hidden unless captionVisible). */
  label: string;
  columns: Column<T>[];
  /** The rows, keyed by their id. */
  rows: T[];
  empty?: ReactNode;
  captionVisible?: boolean;
  rowClassName?: (row: T) => string | undefined;
}

/** The one data table: scrolls horizontally on small screens. */
export function Table<T extends { id: string }>({
  label,
  columns,
  rows,
  empty,
  captionVisible,
  rowClassName,
}: TableProps<T>) {
  if (rows.length === 0 && empty) return <>{empty}</>;
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard.
    <div className="table-wrap" tabIndex={0}>
      <table className="table">
        <caption className={captionVisible ? "table-caption" : "visually-hidden"}>{label}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.key} scope="col" className={column.className}>
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id} className={rowClassName?.(row)}>
              {columns.map((column) => (
                <td key={column.key} className={column.className}>
                  {column.render(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A row's buttons, in the last column under a header only screen readers read. */
export function actionsColumn<T>(render: (row: T) => ReactNode): Column<T> {
  return {
    key: "actions",
    header: <span className="visually-hidden">Actions</span>,
    className: "cell-actions",
    render,
  };
}
