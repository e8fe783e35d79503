/**
 * How the results table holds a large JSON value: JSON, gzip-compressed, in a binary attribute. One attribute
 * instead of a tree of maps and lists keeps DynamoDB's 400 KB item limit far away (probe results compress about
 * tenfold) and costs a write a few milliseconds of compression instead of marshalling every field.
 */
import { gunzipSync, gzipSync } from 'node:zlib';

/** The bytes of `value` as stored. */
export function packJson(value: unknown): Buffer {
  return gzipSync(JSON.stringify(value));
}

/** The value of stored bytes, given in one piece or in the parts it was split into, in order. */
export function unpackJson<T>(bytes: Uint8Array | readonly Uint8Array[]): T {
  const joined = bytes instanceof Uint8Array ? bytes : Buffer.concat(bytes);
  return JSON.parse(gunzipSync(joined).toString('utf8')) as T;
}
