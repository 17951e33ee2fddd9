/**
 * A PostgreSQL array literal (`{"a","b",NULL}`) for an array parameter. Pools run with
 * `fetch_types: false` (see client.ts), so postgres.js would send a JavaScript array as `a,b`;
 * sent as this text, the server types it from the statement (`$1::text[]`, a function argument).
 */
export function pgArray(values: readonly (string | number | null)[]): string {
  const items = values.map((v) => (v === null ? 'NULL' : `"${String(v).replace(/[\\"]/g, '\\$&')}"`));
  return `{${items.join(',')}}`;
}
