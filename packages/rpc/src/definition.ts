import { create, fromBinary, isMessage, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { MethodDefinition } from 'nice-grpc';

type ClientStreams<K> = K extends 'client_streaming' | 'bidi_streaming' ? true : false;
type ServerStreams<K> = K extends 'server_streaming' | 'bidi_streaming' ? true : false;
type Method<M extends GenServiceMethods[string]> = MethodDefinition<
  MessageInitShape<M['input']>,
  MessageShape<M['input']>,
  MessageInitShape<M['output']>,
  MessageShape<M['output']>,
  ClientStreams<M['methodKind']>,
  ServerStreams<M['methodKind']>
>;

/** A nice-grpc service definition whose keys are the generated method names (camelCase). */
export type Definition<S extends GenServiceMethods> = { [K in keyof S]: Method<S[K]> };

/** The binary encoder of a message type that also takes plain init objects, as handlers and callers pass them. */
export function serializer<D extends DescMessage>(schema: D): (value: MessageInitShape<D>) => Uint8Array {
  // create() fills in defaults so the encoder sees a full message.
  return (value) => toBinary(schema, isMessage(value, schema) ? value : create(schema, value));
}

const cache = new WeakMap<object, unknown>();

/**
 * nice-grpc speaks grpc-js style definitions and protobuf-es v2 generates descriptors; no published bridge
 * exists, so this maps one to the other: the path, which side streams, and the binary codec per method.
 */
export function definitionOf<S extends GenServiceMethods>(service: GenService<S>): Definition<S> {
  const hit = cache.get(service);
  if (hit) return hit as Definition<S>;
  const def: Record<string, MethodDefinition<unknown, unknown, unknown, unknown>> = {};
  for (const method of service.methods) {
    const kind = method.methodKind;
    def[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: kind === 'client_streaming' || kind === 'bidi_streaming',
      responseStream: kind === 'server_streaming' || kind === 'bidi_streaming',
      requestSerialize: serializer(method.input) as (v: unknown) => Uint8Array,
      requestDeserialize: (bytes) => fromBinary(method.input, bytes),
      responseSerialize: serializer(method.output) as (v: unknown) => Uint8Array,
      responseDeserialize: (bytes) => fromBinary(method.output, bytes),
      options: {},
    };
  }
  cache.set(service, def);
  return def as Definition<S>;
}

const identity = (b: Uint8Array): Uint8Array => b;

/** The raw-bytes twin of a service: same paths and stream kinds, no decoding. Used to relay calls unchanged. */
export function rawDefinitionOf(service: { typeName: string; methods: readonly { name: string; methodKind: string }[] }) {
  const def: Record<string, MethodDefinition<Uint8Array, Uint8Array, Uint8Array, Uint8Array>> = {};
  for (const method of service.methods) {
    const kind = method.methodKind;
    def[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: kind === 'client_streaming' || kind === 'bidi_streaming',
      responseStream: kind === 'server_streaming' || kind === 'bidi_streaming',
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
      options: {},
    };
  }
  return def;
}

/**
 * What a client-streaming method may add to its definition to take each request as the pieces it arrived
 * in (views of the transport's chunks, see readMessageParts in h2-framing.ts) instead of one assembled
 * buffer: our server then calls this rather than requestDeserialize. For a method whose requests carry
 * bulk bytes that the handler only passes on (content Write), so they are never copied. Servers that do
 * not know it use requestDeserialize, which must decode the same messages.
 */
export interface PartsDeserializer<Req> {
  requestDeserializeParts(parts: readonly Uint8Array[]): Req;
}

/** The method shapes a generated service const carries. */
export type ShapeOf<T> = T extends GenService<infer S> ? S : never;
