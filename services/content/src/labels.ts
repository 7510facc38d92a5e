import { InvalidArgumentError } from '@flotilla/errdefs';

/** The content label (and descriptor annotation) holding a compressed layer's uncompressed digest, its diff ID. */
export const LABEL_UNCOMPRESSED = 'containerd.io/uncompressed';

/** containerd's labels.Validate: a label's key plus value may take 4096 bytes. */
const MAX_LABEL_BYTES = 4096;
/** How much of an oversized key the error message shows (containerd's keyMaxLen). */
const KEY_SHOWN = 64;

export function validateLabels(labels: Readonly<Record<string, string>>): void {
  for (const [k, v] of Object.entries(labels)) {
    const total = Buffer.byteLength(k) + Buffer.byteLength(v);
    if (total > MAX_LABEL_BYTES) {
      throw new InvalidArgumentError(
        `info.Labels: label key and value length (${total} bytes) greater than maximum size (${MAX_LABEL_BYTES} bytes), key: ${k.slice(0, KEY_SHOWN)}`,
      );
    }
  }
}
