import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ClientError, Metadata, Status } from 'nice-grpc';
import {
  InfoRequestSchema,
  ListContentRequestSchema,
  ListContentResponseSchema,
  ReadContentRequestSchema,
  ReadContentResponseSchema,
  WriteAction,
  WriteContentRequestSchema,
  WriteContentResponseSchema,
} from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { VersionResponseSchema } from '@flotilla/proto/containerd/services/version/v1/version_pb';
import { dialH2, type H2Channel } from '@flotilla/rpc/client';
import { remoteContentStore } from '@flotilla/service-content';
import { startContainerd, type Containerd } from './support/containerd.js';

// Our HTTP/2 client (packages/rpc/src/h2-client-connection.ts) against a grpc-go server: Debian's
// containerd. Go's server differs from ours where it matters to a client: 64 KiB initial windows grown by
// its own estimates, 16 KiB frames, HPACK with a dynamic table, PINGs of its own. A 3 MiB Write through
// the content proxy's transport (h2-write-transport.ts) only arrives if the client keeps to those windows.

const CONTENT = '/containerd.services.content.v1.Content';
const NAMESPACE = 'h2-interop';

let c: Containerd;
let channel: H2Channel;
const md = () => Metadata({ 'containerd-namespace': NAMESPACE });

beforeAll(async () => {
  c = await startContainerd();
  channel = dialH2(c.address);
});
afterAll(async () => {
  channel?.close();
  await c?.stop();
});

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('dialH2 and the content write transport against containerd (grpc-go)', () => {
  it('makes a unary call', async () => {
    const r = fromBinary(VersionResponseSchema, await channel.unary('/containerd.services.version.v1.Version/Version', new Uint8Array()));
    expect(r.version).not.toBe('');
    expect(r.revision).not.toBe('');
    // Many at once on the one connection.
    const all = await Promise.all(Array.from({ length: 100 }, () => channel.unary('/containerd.services.version.v1.Version/Version', new Uint8Array())));
    expect(all.map((b) => fromBinary(VersionResponseSchema, b).version)).toEqual(Array(100).fill(r.version));
  });

  it('reports a NotFound status with its message', async () => {
    const missing = digestOf(Buffer.from('not there'));
    const req = toBinary(InfoRequestSchema, create(InfoRequestSchema, { digest: missing }));
    const err = await channel.unary(`${CONTENT}/Info`, req, { metadata: md() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(Status.NOT_FOUND);
    expect((err as ClientError).details).toContain(missing);
  });

  it('writes 3 MiB through the content write transport, twice at once, and reads them back', async () => {
    const store = remoteContentStore(channel, { namespace: NAMESPACE });
    const blobs = [randomBytes(3 << 20), randomBytes(3 << 20)];
    await Promise.all(blobs.map(async (blob, i) => {
      const digest = digestOf(blob);
      const w = await store.writer({ ref: `interop-${i}`, total: blob.length, expected: digest });
      for (let at = 0; at < blob.length; at += 1 << 20) await w.write(blob.subarray(at, at + (1 << 20)));
      expect((await w.status()).offset).toBe(blob.length);
      await w.commit(blob.length, digest);
    }));
    for (const blob of blobs) {
      const digest = digestOf(blob);
      expect((await store.info(digest)).size).toBe(blob.length);
      // Read back through the client (server streaming): Go sends 1 MiB messages in 16 KiB frames.
      const chunks: Uint8Array[] = [];
      for await (const d of store.read(digest)) chunks.push(d);
      expect(Buffer.concat(chunks).equals(blob)).toBe(true);
      // And the raw call, as the gateway relays it.
      const raw: Buffer[] = [];
      const req = toBinary(ReadContentRequestSchema, create(ReadContentRequestSchema, { digest }));
      for await (const m of channel.stream(`${CONTENT}/Read`, req, { metadata: md() })) raw.push(Buffer.from(fromBinary(ReadContentResponseSchema, m).data));
      expect(Buffer.concat(raw).equals(blob)).toBe(true);
    }
    // A server-streaming call with many small answers.
    const listed: string[] = [];
    for await (const m of channel.stream(`${CONTENT}/List`, toBinary(ListContentRequestSchema, create(ListContentRequestSchema, {})), { metadata: md() })) {
      for (const info of fromBinary(ListContentResponseSchema, m).info) listed.push(info.digest);
    }
    expect(listed.sort()).toEqual(blobs.map(digestOf).sort());
  });

  it('streams requests both ways through dialH2 (Write: STAT, a WRITE, a failing COMMIT)', async () => {
    async function* requests() {
      yield toBinary(WriteContentRequestSchema, create(WriteContentRequestSchema, { action: WriteAction.STAT, ref: 'interop-bidi' }));
      yield toBinary(WriteContentRequestSchema, create(WriteContentRequestSchema, { action: WriteAction.WRITE, ref: 'interop-bidi', data: Buffer.alloc(100_000, 7) }));
      // The wrong size: containerd refuses the commit.
      yield toBinary(WriteContentRequestSchema, create(WriteContentRequestSchema, { action: WriteAction.COMMIT, ref: 'interop-bidi', total: 5n }));
    }
    const answers: bigint[] = [];
    const err = await (async () => {
      for await (const m of channel.stream(`${CONTENT}/Write`, requests(), { metadata: md() })) answers.push(fromBinary(WriteContentResponseSchema, m).offset);
    })().then(() => undefined, (e: unknown) => e);
    expect(answers).toEqual([0n, 100_000n]);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(Status.FAILED_PRECONDITION);
    // The connection is still good.
    await channel.unary('/containerd.services.version.v1.Version/Version', new Uint8Array());
  });
});
