import type { Adaptor, FieldValue } from '@flotilla/filters';
import type { Info, Status } from './store.js';

const ABSENT: FieldValue = { value: '', present: false };

/**
 * containerd's content.AdaptInfo: `digest` is always present; `size` is accepted but never present
 * (containerd has it as a TODO, so `size==5` matches nothing there and here); `labels.<key>` reads a
 * label, the rest of the path joined with '.', absent when the blob has no labels at all.
 */
export function adaptInfo(info: Info): Adaptor {
  return {
    field(fieldpath) {
      switch (fieldpath[0]) {
        case 'digest':
          return { value: info.digest, present: true };
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

/** containerd's adaptStatus: only `ref`, always present. */
export function adaptStatus(status: Status): Adaptor {
  return {
    field(fieldpath) {
      return fieldpath[0] === 'ref' ? { value: status.ref, present: true } : ABSENT;
    },
  };
}
