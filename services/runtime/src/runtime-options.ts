import { create, fromBinary, mergeFromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema, type Any } from '@bufbuild/protobuf/wkt';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { OptionsSchema, type Options } from '@flotilla/proto/containerd/runc/v1/options_pb';

/** Options of the runc shim; other shims bring their own types, passed through untouched. */
export function isRuncOptions(a: Any | undefined): a is Any {
  return a !== undefined && a.typeUrl.replace(/^.*\//, '') === OptionsSchema.typeName;
}

export function decodeRuncOptions(a: Any): Options {
  try {
    return fromBinary(OptionsSchema, a.value);
  } catch (err) {
    throw new InvalidArgumentError(`runtime options ${a.typeUrl}: ${(err as Error).message}`);
  }
}

/**
 * What Create's own options must be: containerd reads them as runc options (the task API address and
 * version, the checkpoint path), so a type it cannot read is refused rather than passed on blind.
 */
export function checkTaskOptions(runtime: string, a: Any | undefined): Options | undefined {
  if (a === undefined || (a.typeUrl === '' && a.value.length === 0)) return undefined;
  if (!isRuncOptions(a)) throw new InvalidArgumentError(`invalid task create option for ${runtime}`);
  return decodeRuncOptions(a);
}

/**
 * The options a shim's `start` reads on stdin: the container's runtime options with the task's laid over
 * them field by field (protobuf merge), when both are runc options; otherwise whichever is set, the task's
 * first. `start` only needs them to place the shim (its cgroup); the task itself gets one or the other
 * unmerged, in Create.
 */
export function mergeOptions(runtimeOptions: Any | undefined, taskOptions: Any | undefined): Any | undefined {
  const present = (a: Any | undefined) => (a !== undefined && (a.typeUrl !== '' || a.value.length > 0) ? a : undefined);
  const r = present(runtimeOptions);
  const t = present(taskOptions);
  if (r === undefined || t === undefined) return t ?? r;
  if (!isRuncOptions(r) || !isRuncOptions(t)) return t;
  const merged = mergeFromBinary(OptionsSchema, decodeRuncOptions(r), t.value);
  return create(AnySchema, { typeUrl: r.typeUrl, value: toBinary(OptionsSchema, merged) });
}

/** What Create hands the shim: the task's options if it has any, else the container's runtime options. */
export function createOptions(runtimeOptions: Any | undefined, taskOptions: Any | undefined): Any | undefined {
  if (taskOptions !== undefined && taskOptions.value.length > 0) return taskOptions;
  return runtimeOptions;
}
