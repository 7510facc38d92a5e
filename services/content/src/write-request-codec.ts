import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  WriteAction,
  WriteContentRequestSchema,
} from '@flotilla/proto/containerd/services/content/v1/content_pb';

export type WriteRequestInit = MessageInitShape<typeof WriteContentRequestSchema>;

/**
 * The proxy writer's hot message, WRITE: action, offset and the bytes. It is laid out by hand, because
 * protobuf-es's writer copies a large bytes field several times through fresh chunks, which for a 1 GiB
 * ingest costs more CPU than hashing it. Every other request goes through protobuf-es. Both give the same
 * bytes (fields in number order, defaults omitted).
 */
export interface PlainWrite {
  readonly offset: number;
  readonly data: Uint8Array;
}

/** Field tags of WriteContentRequest: (field number << 3) | wire type. */
const TAG_ACTION = (1 << 3) | 0;
const TAG_OFFSET = (5 << 3) | 0;
const TAG_DATA = (6 << 3) | 2;

/** Bytes a non-negative integer (below 2^53) takes as a varint. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function putVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** The fields in front of the data: action, offset, and the data's tag and length. */
function headSize(w: PlainWrite): number {
  return 1 + varintSize(WriteAction.WRITE) +
    (w.offset !== 0 ? 1 + varintSize(w.offset) : 0) +
    (w.data.length !== 0 ? 1 + varintSize(w.data.length) : 0);
}

function putHead(buf: Buffer, pos: number, w: PlainWrite): number {
  buf[pos++] = TAG_ACTION;
  pos = putVarint(buf, pos, WriteAction.WRITE);
  if (w.offset !== 0) {
    buf[pos++] = TAG_OFFSET;
    pos = putVarint(buf, pos, w.offset);
  }
  if (w.data.length !== 0) {
    buf[pos++] = TAG_DATA;
    pos = putVarint(buf, pos, w.data.length);
  }
  return pos;
}

/** A WRITE as one message, in `scratch` when it is large enough (the data is copied once). */
export function encodePlainWrite(w: PlainWrite, scratch?: Buffer): Uint8Array {
  const size = headSize(w) + w.data.length;
  const buf = scratch !== undefined && scratch.length >= size ? scratch : Buffer.allocUnsafe(size);
  const pos = putHead(buf, 0, w);
  buf.set(w.data, pos);
  return buf === scratch ? buf.subarray(0, size) : buf;
}

/**
 * A WRITE framed for the wire as two parts, the gRPC length prefix with the fields before the data, and
 * the data itself, so it is sent without being copied at all.
 */
export function framePlainWrite(w: PlainWrite): [Buffer, Uint8Array] {
  const head = headSize(w);
  const prefix = Buffer.allocUnsafe(5 + head);
  prefix[0] = 0;
  prefix.writeUInt32BE(head + w.data.length, 1);
  putHead(prefix, 5, w);
  return [prefix, w.data];
}

export function encodeWriteRequest(req: WriteRequestInit): Uint8Array {
  return toBinary(WriteContentRequestSchema, create(WriteContentRequestSchema, req));
}

/** A request already encoded by the writer (see grpc-write-transport.ts); the serializer passes it on. */
export interface EncodedWriteRequest {
  readonly encoded: Uint8Array;
}

export function serializeWriteRequest(req: WriteRequestInit | EncodedWriteRequest): Uint8Array {
  return 'encoded' in req ? req.encoded : encodeWriteRequest(req);
}
