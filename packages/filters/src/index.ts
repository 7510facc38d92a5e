export { parse, parseAll, parseSelectors } from './parser.js';
export { InvalidFilterError } from './invalid-filter-error.js';
export { adaptFields } from './adapt-fields.js';
export { allOf, always, anyOf, selectorFilter } from './filter.js';
export { compileRegExp } from './go-regexp.js';
export type { Adaptor, FieldValue, Filter, Operator, Selector } from './filter.js';
