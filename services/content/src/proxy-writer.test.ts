import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { WriteAction, WriteContentResponseSchema, type WriteContentResponse } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { openRemoteWriter } from './proxy-writer.js';
import type { WriteTransport } from './write-transport.js';
import { writeDataLength } from './write-data.js';

/** A server that answers every request at once: WRITEs with the offset after them and a digest naming it. */
function fakeServer(): { transport: WriteTransport; actions: string[] } {
  // What the writer did, in order: 'WRITE', 'STAT', 'COMMIT' sent ('+end' when it ended the stream), 'read'
  // for each answer it read after COMMIT.
  const actions: string[] = [];
  const queue: WriteContentResponse[] = [];
  let offset = 0;
  const started = new Date('2026-01-01T00:00:00Z');
  const transport: WriteTransport = {
    send(req, last) {
      if ('write' in req) {
        offset = req.write.offset + writeDataLength(req.write.data);
        actions.push('WRITE');
        queue.push(create(WriteContentResponseSchema, { action: WriteAction.WRITE, offset: BigInt(offset), digest: `sha256:at-${offset}` }));
        return;
      }
      const action = req.request.action ?? WriteAction.STAT;
      actions.push(WriteAction[action] + (last === true ? '+end' : ''));
      queue.push(create(WriteContentResponseSchema, {
        action,
        offset: BigInt(offset),
        total: 100n,
        digest: `sha256:at-${offset}`,
        startedAt: timestampFromDate(started),
        updatedAt: timestampFromDate(started),
      }));
    },
    next: async () => {
      const r = queue.shift();
      if (r !== undefined && actions.some((a) => a.startsWith('COMMIT'))) actions.push('read');
      return r;
    },
    end() {},
  };
  return { transport, actions };
}

describe('openRemoteWriter', () => {
  it('answers status from the WRITE answers when they are exact, without a round trip', async () => {
    const { transport, actions } = fakeServer();
    const w = await openRemoteWriter(transport, { ref: 'r', total: 100 }, 4, true);
    await w.write(Buffer.alloc(10));
    await w.write(Buffer.alloc(15));
    const st = await w.status();
    expect(st).toMatchObject({ ref: 'r', offset: 25, total: 100, startedAt: new Date('2026-01-01T00:00:00Z') });
    expect(w.digest()).toBe('sha256:at-25');
    expect(actions).toEqual(['STAT', 'WRITE', 'WRITE']);
  });

  it('asks the server otherwise', async () => {
    const { transport, actions } = fakeServer();
    const w = await openRemoteWriter(transport, { ref: 'r', total: 100 }, 4);
    await w.write(Buffer.alloc(10));
    expect((await w.status()).offset).toBe(10);
    expect(actions).toEqual(['STAT', 'WRITE', 'STAT']);
  });

  it('sends COMMIT right behind the WRITEs it has not heard back about, then reads every answer in order', async () => {
    const { transport, actions } = fakeServer();
    const w = await openRemoteWriter(transport, { ref: 'r', total: 25 }, 4, true);
    await w.write(Buffer.alloc(10));
    await w.write(Buffer.alloc(15));
    await w.commit(25, '');
    // Both WRITE answers are read after COMMIT went out; COMMIT's answer last.
    expect(actions).toEqual(['STAT', 'WRITE', 'WRITE', 'COMMIT+end', 'read', 'read', 'read']);
    expect(w.digest()).toBe('sha256:at-25');
  });
});
