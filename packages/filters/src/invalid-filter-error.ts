import { InvalidArgumentError } from '@flotilla/errdefs';

/**
 * A filter string that does not parse. containerd reports these as
 * InvalidArgument; the message follows containerd's wording so that it reads
 * the same to a client, e.g.
 * `filters: parse error: [name== >|,|< ]: expected value or quoted`.
 */
// An InvalidArgument like any other (so every server maps it without help), with the parse position.
export class InvalidFilterError extends InvalidArgumentError {
  override readonly name = 'InvalidFilterError';
  /** The whole filter string that failed. */
  readonly input: string;
  /** UTF-16 index into input where parsing failed; input.length at the end. */
  readonly position: number;
  /** The bare reason, without the location, e.g. `expected field or quoted`. */
  readonly reason: string;

  constructor(input: string, position: number, reason: string) {
    super(`filters: parse error: ${locate(input, position, reason)}`);
    this.input = input;
    this.position = position;
    this.reason = reason;
  }
}

function locate(input: string, position: number, reason: string): string {
  if (position >= input.length) return `[${input}]: ${reason}`;
  const codePoint = input.codePointAt(position) ?? 0;
  const end = position + (codePoint > 0xffff ? 2 : 1);
  return `[${input.slice(0, position)} >|${input.slice(position, end)}|< ${input.slice(end)}]: ${reason}`;
}
