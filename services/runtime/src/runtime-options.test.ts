import { describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { OptionsSchema } from '@flotilla/proto/containerd/runc/v1/options_pb';
import { checkTaskOptions, createOptions, mergeOptions } from './runtime-options.js';

const runc = (o: Parameters<typeof create<typeof OptionsSchema>>[1], typeUrl = 'containerd.runc.v1.Options') =>
  create(AnySchema, { typeUrl, value: toBinary(OptionsSchema, create(OptionsSchema, o)) });
const other = create(AnySchema, { typeUrl: 'example.com/other.Options', value: new Uint8Array([8, 1]) });

describe('runtime options', () => {
  it('lays the task\'s runc options over the container\'s for the shim\'s start', () => {
    const merged = mergeOptions(runc({ binaryName: 'crun', root: '/r', systemdCgroup: true }), runc({ root: '/task-root', noPivotRoot: true }));
    expect(merged?.typeUrl).toBe('containerd.runc.v1.Options');
    expect(fromBinary(OptionsSchema, merged!.value)).toMatchObject({ binaryName: 'crun', root: '/task-root', systemdCgroup: true, noPivotRoot: true });
  });

  it('passes whichever is set, and the task\'s when their types differ', () => {
    const r = runc({ binaryName: 'crun' });
    expect(mergeOptions(r, undefined)).toBe(r);
    expect(mergeOptions(undefined, r)).toBe(r);
    expect(mergeOptions(r, other)).toBe(other);
    expect(mergeOptions(undefined, undefined)).toBeUndefined();
  });

  it('gives Create the task\'s options when it has any, else the container\'s', () => {
    const r = runc({ binaryName: 'crun' });
    const t = runc({ noNewKeyring: true });
    expect(createOptions(r, t)).toBe(t);
    expect(createOptions(r, create(AnySchema, {}))).toBe(r);
    expect(createOptions(r, undefined)).toBe(r);
  });

  it('reads Create\'s own options as runc options, a type URL with a prefix included', () => {
    expect(checkTaskOptions('io.containerd.runc.v2', runc({ criuImagePath: '/cp' }, 'type.googleapis.com/containerd.runc.v1.Options'))?.criuImagePath).toBe('/cp');
    expect(checkTaskOptions('io.containerd.runc.v2', undefined)).toBeUndefined();
    expect(() => checkTaskOptions('io.containerd.kata.v2', other)).toThrow(InvalidArgumentError);
    expect(() => checkTaskOptions('io.containerd.kata.v2', other)).toThrow('invalid task create option for io.containerd.kata.v2');
  });
});
