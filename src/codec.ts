import { Decoder, Encoder } from 'cbor-x';

/**
 * The one CBOR codec of the package. CBOR keeps `Uint8Array`, `Date`, strings holding U+0000
 * and nested structures exactly, which Postgres `jsonb`/`text` cannot.
 * `mapsAsObjects` returns plain objects; no record structures so every value decodes alone.
 */
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

export function encode(value: unknown): Uint8Array {
  return encoder.encode(value);
}

export function decode<T = unknown>(bytes: Uint8Array | null | undefined): T | undefined {
  if (!bytes || bytes.length === 0) return undefined;
  return fixBinary(decoder.decode(bytes)) as T;
}

// cbor-x decodes byte strings into Buffers that may share a pooled backing store; the contract
// wants fresh Uint8Arrays, so copy them (and walk containers to find nested ones).
function fixBinary(value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = fixBinary(value[i]);
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = fixBinary(record[key]);
  return record;
}
