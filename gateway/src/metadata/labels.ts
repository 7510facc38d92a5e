import { InvalidArgumentError } from '@flotilla/errdefs';

/** containerd caps a label's key plus value at 4 KiB. */
const MAX_LABEL_BYTES = 4096;

/** containerd's labels.Validate, applied to every label set on any object. */
export function validateLabels(labels: Readonly<Record<string, string>>): void {
  for (const [k, v] of Object.entries(labels)) {
    if (Buffer.byteLength(k) + Buffer.byteLength(v) > MAX_LABEL_BYTES) {
      // containerd 2.0 shows at most the first 64 characters of the key.
      const shown = k.slice(0, 64);
      throw new InvalidArgumentError(`label key and value length (${Buffer.byteLength(k) + Buffer.byteLength(v)} bytes) greater than maximum size (${MAX_LABEL_BYTES} bytes), key: ${shown}`);
    }
    if (k === '') throw new InvalidArgumentError('label key must not be empty');
  }
}
