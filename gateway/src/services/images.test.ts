import { beforeEach, describe, expect, it } from 'vitest';
import { fromBinary } from '@bufbuild/protobuf';
import { Metadata } from 'nice-grpc';
import { Images } from '@flotilla/proto/containerd/services/images/v1/images_pb';
import { ImageCreateSchema, ImageDeleteSchema, ImageUpdateSchema } from '@flotilla/proto/containerd/events/image_pb';
import { InvalidArgumentError, NotFoundError, NotImplementedError } from '@flotilla/errdefs';
import { clientOf } from '@flotilla/rpc/client';
import { createImageStore } from '../metadata/images.js';
import { imagesService } from './images.js';
import { serviceFixture } from '../test-support/service-fixture.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const target = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: D1, size: 10n };
const ns = { metadata: Metadata({ 'containerd-namespace': 'evt' }) };

let gcCalls: string[];
let finishCollection: (() => void) | undefined;
beforeEach(() => {
  gcCalls = [];
});
const svc = serviceFixture('images', (server, db, events) => {
  const gc = {
    schedule: () => { gcCalls.push('schedule'); },
    collect: () => new Promise<void>((resolve) => {
      gcCalls.push('collect');
      finishCollection = () => { gcCalls.push('collected'); resolve(); };
    }),
  };
  imagesService(createImageStore(db), events, gc).register(server);
});

const tick = () => new Promise((r) => setTimeout(r, 10));
const topics = () => svc.seen.map((e) => [e.namespace, e.topic, e.event?.typeUrl]);

describe('images service', () => {
  it('publishes containerd\'s events for every change, and none for a failed one', async () => {
    const images = clientOf(Images, svc.channel);
    await images.create({ image: { name: 'a', labels: { k: 'v', gone: '' }, target } }, ns);
    await images.update({ image: { name: 'a', labels: { n: '1' } }, updateMask: { paths: ['labels.n'] } }, ns);
    await images.delete({ name: 'a' }, ns);
    await expect(images.delete({ name: 'a' }, ns)).rejects.toThrow(NotFoundError);
    await expect(images.create({ image: { name: 'b' } }, ns)).rejects.toThrow(InvalidArgumentError);
    await images.get({ name: 'nope' }, ns).catch(() => undefined);
    await images.list({}, ns);
    await tick();
    expect(topics()).toEqual([
      ['evt', '/images/create', 'containerd.services.images.v1.ImageCreate'],
      ['evt', '/images/update', 'containerd.services.images.v1.ImageUpdate'],
      ['evt', '/images/delete', 'containerd.services.images.v1.ImageDelete'],
    ]);
    const [created, updated, deleted] = svc.seen.map((e) => e.event!.value);
    // The stored labels: an empty one was never set.
    expect(fromBinary(ImageCreateSchema, created!)).toMatchObject({ name: 'a', labels: { k: 'v' } });
    expect(fromBinary(ImageUpdateSchema, updated!)).toMatchObject({ name: 'a', labels: { k: 'v', n: '1' } });
    expect(fromBinary(ImageDeleteSchema, deleted!)).toMatchObject({ name: 'a' });
  });

  it('checks the name before the namespace, as containerd\'s service does', async () => {
    const images = clientOf(Images, svc.channel);
    await expect(images.create({ image: { name: '', target } })).rejects.toThrow('Image.Name required');
    await expect(images.create({})).rejects.toThrow(InvalidArgumentError);
    await expect(images.update({ image: { name: '' } })).rejects.toThrow('Image.Name required');
    await expect(images.create({ image: { name: 'x', target } })).rejects.toThrow('namespace is required');
  });

  it('schedules a collection after a deletion; with sync, answers only once one has run', async () => {
    const images = clientOf(Images, svc.channel);
    await images.create({ image: { name: 'a', target } }, ns);
    await images.create({ image: { name: 'b', target } }, ns);
    expect(gcCalls).toEqual([]);
    await images.delete({ name: 'a' }, ns);
    expect(gcCalls).toEqual(['schedule']);

    let answered = false;
    const sync = images.delete({ name: 'b', sync: true }, ns).then(() => { answered = true; });
    await tick();
    while (finishCollection === undefined) await tick();
    expect(gcCalls).toEqual(['schedule', 'collect']);
    expect(answered).toBe(false);
    // The image is already gone and its event out before collection: containerd publishes first.
    expect(svc.seen.at(-1)?.topic).toBe('/images/delete');
    await expect(images.get({ name: 'b' }, ns)).rejects.toThrow(NotFoundError);
    finishCollection();
    await sync;
    expect(answered).toBe(true);
    expect(gcCalls).toEqual(['schedule', 'collect', 'collected']);
    // A failed deletion asks for nothing.
    await expect(images.delete({ name: 'b', sync: true }, ns)).rejects.toThrow(NotFoundError);
    expect(gcCalls).toHaveLength(3);
  });

  it('refuses a Docker schema 1 target at Create and Update, and publishes nothing for it', async () => {
    const images = clientOf(Images, svc.channel);
    for (const mediaType of ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws']) {
      const err = await images.create({ image: { name: 's1', target: { ...target, mediaType } } }, ns).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotImplementedError);
      expect((err as Error).message).toMatch(/no longer supported since containerd 2\.0.*manifest\.v2\+json.*oci\.image\.manifest\.v1\+json/);
    }
    await images.create({ image: { name: 'ok', target } }, ns);
    const schema1 = { ...target, mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' };
    await expect(images.update({ image: { name: 'ok', target: schema1 } }, ns)).rejects.toThrow(NotImplementedError);
    await expect(images.update({ image: { name: 'ok', target: schema1 }, updateMask: { paths: ['target'] } }, ns)).rejects.toThrow(NotImplementedError);
    // An update that leaves the target alone is not about the target's type.
    await images.update({ image: { name: 'ok', target: schema1, labels: { a: 'b' } }, updateMask: { paths: ['labels'] } }, ns);
    expect((await images.get({ name: 'ok' }, ns)).image?.target?.mediaType).toBe(target.mediaType);
    await tick();
    expect(topics().map((t) => t[1])).toEqual(['/images/create', '/images/update']);
  });
});
