import { InvalidArgumentError } from '@flotilla/errdefs';
import { InvalidFilterError, parseAll, type FieldValue, type Filter } from '@flotilla/filters';

/**
 * The pieces containerd's metadata adaptors (core/metadata/adaptors.go) are made of, shared by every
 * store here that filters its List by hand-written field rules (images, containers).
 */

export const ABSENT: FieldValue = { value: '', present: false };

/** A string field: present only when it is not empty. */
export const scalar = (v: string): FieldValue => (v === '' ? ABSENT : { value: v, present: true });

/**
 * A map field (`labels.<key>`, `annotations.<key>`): the rest of the path joined with '.' is the key, so a
 * dotted key can be written either quoted or not; a key set to '' is still present.
 */
export function checkMap(path: readonly string[], m: Readonly<Record<string, string>>): FieldValue {
  const key = path.join('.');
  return Object.hasOwn(m, key) ? { value: m[key] ?? '', present: true } : ABSENT;
}

/**
 * A List request's filters, parsed. containerd's stores wrap the parser's error (already an
 * InvalidArgument) in InvalidArgument once more, so the kind appears twice in the message; clients that
 * match on the text see the same thing here.
 */
export function parseStoreFilters(filters: readonly string[]): Filter {
  try {
    return parseAll(...filters);
  } catch (err) {
    if (err instanceof InvalidFilterError) throw new InvalidArgumentError(`${err.message}: invalid argument`, { cause: err });
    throw err;
  }
}
