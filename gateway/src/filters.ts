import { adaptFields, parseAll } from '@flotilla/filters';

/**
 * Compile a List request's filters once into a predicate over an object's fields and labels. A syntax
 * error throws InvalidFilterError, an InvalidArgument, as containerd answers.
 */
export function compileFilters(
  filters: readonly string[],
): (fields: Readonly<Record<string, string | undefined>>, labels?: Readonly<Record<string, string>>) => boolean {
  const f = parseAll(...filters);
  return (fields, labels) => f.match(adaptFields(fields, labels));
}
