import { create } from '@bufbuild/protobuf';
import { KeyValueSchema, type KeyValue } from '@flotilla/proto/ttrpc/request_pb';

/** Call metadata as a server sees it: every value of a key, in the order sent. */
export type Metadata = ReadonlyMap<string, readonly string[]>;

/** Call metadata as a caller gives it. */
export type MetadataInit = Readonly<Record<string, string | readonly string[]>>;

/** ttrpc carries metadata as repeated key/value pairs, one pair per value. */
export function toKeyValues(init: MetadataInit | undefined): KeyValue[] {
  if (init === undefined) return [];
  const out: KeyValue[] = [];
  for (const [key, value] of Object.entries(init)) {
    for (const v of typeof value === 'string' ? [value] : value) out.push(create(KeyValueSchema, { key, value: v }));
  }
  return out;
}

export function fromKeyValues(pairs: readonly KeyValue[]): Metadata {
  const md = new Map<string, string[]>();
  for (const { key, value } of pairs) {
    const list = md.get(key);
    if (list) list.push(value);
    else md.set(key, [value]);
  }
  return md;
}

/** Later metadata wins per key; used to lay per-call metadata over a client's defaults. */
export function mergeMetadata(base: MetadataInit | undefined, over: MetadataInit | undefined): MetadataInit | undefined {
  if (base === undefined) return over;
  if (over === undefined) return base;
  return { ...base, ...over };
}
