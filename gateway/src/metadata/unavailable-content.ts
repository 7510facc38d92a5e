import { UnavailableError } from '@flotilla/errdefs';
import type { ContentStore } from '@flotilla/service-content';

/** A content store that answers Unavailable to everything: the content process is not configured. */
export function unavailableContent(reason: string): ContentStore {
  const fail = (): never => { throw new UnavailableError(reason); };
  return {
    info: async () => fail(),
    update: async () => fail(),
    // eslint-disable-next-line require-yield
    list: async function* () { fail(); },
    delete: async () => fail(),
    // eslint-disable-next-line require-yield
    read: async function* () { fail(); },
    status: async () => fail(),
    listStatuses: async () => fail(),
    abort: async () => fail(),
    writer: async () => fail(),
  };
}
