const dateTime = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat("en", { dateStyle: "medium" });

export function formatDateTime(value: string | null | undefined, empty = "—"): string {
  if (!value) return empty;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : dateTime.format(date);
}

export function formatDate(value: string | null | undefined, empty = "—"): string {
  if (!value) return empty;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : dateOnly.format(date);
}

export const ROLE_OPTIONS = [
  { value: "admin", label: "Admin" },
  { value: "analyst", label: "Analyst" },
];

export function roleLabel(role: string): string {
  return role === "admin" ? "Admin" : role === "analyst" ? "Analyst" : role;
}

/** A one-line summary of a details object: `key: value · key: value`. */
export function summarize(details: Record<string, unknown> | null | undefined, max = 120): string {
  if (!details) return "—";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(details)) {
    if (value === null || value === undefined || value === "") continue;
    const text =
      typeof value === "string" || typeof value === "number" || typeof value === "boolean"
        ? String(value)
        : Array.isArray(value)
          ? value.join(", ")
          : JSON.stringify(value);
    parts.push(`${key}: ${text}`);
  }
  const line = parts.join(" · ");
  if (!line) return "—";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Whether `value` looks like an email address (name@domain.tld). */
export function isEmail(value: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);
}
