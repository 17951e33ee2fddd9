/** Quotes any name (a schema, a NOTIFY channel) as a SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
