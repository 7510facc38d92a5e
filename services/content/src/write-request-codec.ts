import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  WriteAction,
  WriteContentRequestSchema,
} from '@flotilla/proto/containerd/services/content/v1/content_pb';
import type { WriteData } from './store.js';
import { copyWriteData, writeDataLength, writeDataPieces } from './write-data.js';

export type WriteRequestInit = MessageInitShape<typeof WriteContentRequestSchema>;

/**
 * The proxy writer's hot message, WRITE: action, offset and the bytes. It is laid out by hand, because
 * protobuf-es's writer copies a large bytes field several times through fresh chunks, which for a 1 GiB
 * ingest costs more CPU than hashing it. Every other request goes through protobuf-es. Both give the same
 * bytes (fields in number order, defaults omitted).
 */
export interface PlainWrite {
  readonly offset: number;
  readonly data: WriteData;
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
function headSize(w: PlainWrite, length: number): number {
  return 1 + varintSize(WriteAction.WRITE) +
    (w.offset !== 0 ? 1 + varintSize(w.offset) : 0) +
    (length !== 0 ? 1 + varintSize(length) : 0);
}

function putHead(buf: Buffer, pos: number, w: PlainWrite, length: number): number {
  buf[pos++] = TAG_ACTION;
  pos = putVarint(buf, pos, WriteAction.WRITE);
  if (w.offset !== 0) {
    buf[pos++] = TAG_OFFSET;
    pos = putVarint(buf, pos, w.offset);
  }
  if (length !== 0) {
    buf[pos++] = TAG_DATA;
    pos = putVarint(buf, pos, length);
  }
  return pos;
}

/** A WRITE as one message, in `scratch` when it is large enough (the data is copied once). */
export function encodePlainWrite(w: PlainWrite, scratch?: Buffer): Uint8Array {
  const length = writeDataLength(w.data);
  const size = headSize(w, length) + length;
  const buf = scratch !== undefined && scratch.length >= size ? scratch : Buffer.allocUnsafe(size);
  copyWriteData(w.data, buf, putHead(buf, 0, w, length));
  return buf === scratch ? buf.subarray(0, size) : buf;
}

/**
 * A WRITE framed for the wire: the gRPC length prefix with the fields before the data, then the data's
 * own pieces (none when it is empty), so it is sent without being copied at all.
 */
export function framePlainWrite(w: PlainWrite): [Buffer, ...Uint8Array[]] {
  const length = writeDataLength(w.data);
  const head = headSize(w, length);
  const prefix = Buffer.allocUnsafe(5 + head);
  prefix[0] = 0;
  prefix.writeUInt32BE(head + length, 1);
  putHead(prefix, 5, w, length);
  return length === 0 ? [prefix] : [prefix, ...writeDataPieces(w.data)];
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
