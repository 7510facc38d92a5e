import { compileRegExp } from './go-regexp.js';

/** What an adaptor reports for a field path. */
export interface FieldValue {
  readonly value: string;
  /** Whether the object has the field: `==` and a bare path need it; `!=` and `~=` see only value. */
  readonly present: boolean;
}

/**
 * Maps field paths to an object's values. The object form (rather than a bare
 * function) lets an adaptor carry state or be built once per type.
 */
export interface Adaptor {
  field(fieldpath: readonly string[]): FieldValue;
}

export interface Filter {
  match(adaptor: Adaptor): boolean;
}

/** containerd's operator names: `?` is a bare field path, a presence test. */
export type Operator = '?' | '==' | '!=' | '~=';

export interface Selector {
  readonly fieldpath: readonly string[];
  readonly operator: Operator;
  /** Unquoted; empty for `?`. */
  readonly value: string;
}

export const always: Filter = { match: () => true };

/** Matches when any filter does; none never matches. */
export function anyOf(filters: readonly Filter[]): Filter {
  return { match: (adaptor) => filters.some((f) => f.match(adaptor)) };
}

/** Matches when every filter does; none always matches. */
export function allOf(filters: readonly Filter[]): Filter {
  return { match: (adaptor) => filters.every((f) => f.match(adaptor)) };
}

export function selectorFilter(selector: Selector): Filter {
  const { fieldpath, value: wanted } = selector;
  switch (selector.operator) {
    case '?':
      return { match: (adaptor) => adaptor.field(fieldpath).present };
    case '==':
      return {
        match: (adaptor) => {
          const { value, present } = adaptor.field(fieldpath);
          return present && value === wanted;
        },
      };
    case '!=':
      // As in containerd presence is not consulted, so an absent field (value
      // "") differs from any non-empty value.
      return { match: (adaptor) => adaptor.field(fieldpath).value !== wanted };
    case '~=': {
      // Compiled on first use and kept, failures included: containerd only
      // notices a bad pattern when matching, and then matches nothing. Like
      // `!=`, an absent field is matched as "".
      let compiled: RegExp | null | undefined;
      return {
        match: (adaptor) => {
          if (compiled === undefined) compiled = compileRegExp(wanted);
          return compiled !== null && compiled.test(adaptor.field(fieldpath).value);
        },
      };
    }
  }
}
