import { parseAll, type Adaptor, type FieldValue, type Filter } from '@flotilla/filters';
import type { Info } from './snapshotter.js';

const ABSENT: FieldValue = { value: '', present: false };

/**
 * containerd's adaptSnapshot (core/snapshots/storage): `kind` (active, view, committed), `name` and
 * `parent` are always present, so `parent==""` selects snapshots without a parent; `labels.<key>` reads
 * a label (the rest of the path joined with '.'), absent when the snapshot has no labels at all.
 */
export function adaptSnapshot(info: Info): Adaptor {
  return {
    field(fieldpath) {
      switch (fieldpath[0]) {
        case 'kind':
          return { value: info.kind, present: true };
        case 'name':
          return { value: info.name, present: true };
        case 'parent':
          return { value: info.parent, present: true };
        case 'labels': {
          const key = fieldpath.slice(1).join('.');
          return Object.hasOwn(info.labels, key) ? { value: info.labels[key] ?? '', present: true } : ABSENT;
        }
        default:
          return ABSENT;
      }
    },
  };
}

/**
 * The filter a walk applies: a snapshot passes when it matches any of the strings; no strings pass
 * everything. Throws InvalidFilterError (an InvalidArgument) before anything is walked.
 */
export function snapshotFilter(filters: readonly string[]): { match(info: Info): boolean } {
  const filter: Filter = parseAll(...filters);
  return { match: (info) => filter.match(adaptSnapshot(info)) };
}
