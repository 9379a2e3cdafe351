import type { ReactNode } from "react";

export interface Column<T> {
  key: string;
  header: ReactNode;
  render: (row: T) => ReactNode;
  className?: string;
  /** Marks the cell as the row header (`<th scope="row">`). */
  rowHeader?: boolean;
}

interface TableProps<T> {
  /** Accessible name of the table (also its caption, visually hidden unless captionVisible). */
  label: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  empty?: ReactNode;
  captionVisible?: boolean;
  rowClassName?: (row: T) => string | undefined;
}

/** The one data table: scrolls horizontally on small screens. */
export function Table<T>({
  label,
  columns,
  rows,
  rowKey,
  empty,
  captionVisible,
  rowClassName,
}: TableProps<T>) {
  if (rows.length === 0 && empty) return <>{empty}</>;
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard.
    // biome-ignore lint/a11y/useSemanticElements: a labelled group, not a fieldset of form controls.
    <div className="table-wrap" role="group" aria-label={label} tabIndex={0}>
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
            <tr key={rowKey(row)} className={rowClassName?.(row)}>
              {columns.map((column) =>
                column.rowHeader ? (
                  <th key={column.key} scope="row" className={column.className}>
                    {column.render(row)}
                  </th>
                ) : (
                  <td key={column.key} className={column.className}>
                    {column.render(row)}
                  </td>
                ),
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
