/** Joins class names, leaving out the empty and the false ones: `classes("field", error && "field-invalid")`. */
export function classes(...names: (string | false | null | undefined)[]): string {
  return names.filter(Boolean).join(" ");
}

/** An `aria-describedby` value from the ids present, or undefined when there are none. */
export function describedBy(...ids: (string | undefined)[]): string | undefined {
  return ids.filter(Boolean).join(" ") || undefined;
}
