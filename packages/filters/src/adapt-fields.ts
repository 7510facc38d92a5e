import type { Adaptor, FieldValue } from './filter.js';

const ABSENT: FieldValue = { value: '', present: false };

/**
 * The adaptor most containerd objects use: scalar fields, present when
 * non-empty, and a label map under `labels`, addressed by the rest of the
 * path joined with '.', so `labels."a.b"` and `labels.a.b` both name the
 * label "a.b"; a label is present even when its value is empty.
 *
 * A field is looked up by the whole path joined with '.', so nested fields
 * can be given as keys like "runtime.name" or "target.digest"; failing that,
 * by the first segment alone, because containerd's adaptors ignore segments
 * after a scalar (`name.x` reads `name`).
 */
export function adaptFields(
  fields: Readonly<Record<string, string | undefined>>,
  labels?: Readonly<Record<string, string>>,
): Adaptor {
  return {
    field(fieldpath) {
      const [head, ...rest] = fieldpath;
      if (head === undefined) return ABSENT;
      if (head === 'labels' && labels !== undefined) {
        const key = rest.join('.');
        return Object.hasOwn(labels, key) ? { value: labels[key] ?? '', present: true } : ABSENT;
      }
      const joined = fieldpath.join('.');
      const value = Object.hasOwn(fields, joined)
        ? fields[joined]
        : Object.hasOwn(fields, head)
          ? fields[head]
          : undefined;
      return value === undefined || value === '' ? ABSENT : { value, present: true };
    },
  };
}
