import { fromBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';
import {
  ContainerCreateSchema,
  ContainerCreate_RuntimeSchema,
  ContainerDeleteSchema,
  ContainerUpdateSchema,
} from '@flotilla/proto/containerd/events/container_pb';
import { SnapshotCommitSchema, SnapshotPrepareSchema, SnapshotRemoveSchema } from '@flotilla/proto/containerd/events/snapshot_pb';
import {
  TaskCheckpointedSchema,
  TaskCreateSchema,
  TaskDeleteSchema,
  TaskExecAddedSchema,
  TaskExecStartedSchema,
  TaskExitSchema,
  TaskIOSchema,
  TaskOOMSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from '@flotilla/proto/containerd/events/task_pb';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { InvalidFilterError, parseAll, type Adaptor, type FieldValue, type Filter } from '@flotilla/filters';
import { ABSENT, checkMap, scalar } from '../metadata/adaptors.js';

/**
 * How one field of an event can be filtered on: a string (present when not empty), a bool (always
 * present, "true" or "false"), a label map (`labels.<key>`), a nested message, or an Any decoded and
 * filtered on in turn.
 */
type Rule = 'string' | 'bool' | 'labels' | 'message' | 'any';

interface EventFields {
  readonly schema: DescMessage;
  /** By proto field name (`container_id`), as filters name them. */
  readonly fields: Readonly<Record<string, Rule>>;
}

/**
 * The event fields containerd lets a subscriber filter on (`event.<field>`): those its generated Field
 * methods (protoc-gen-go-fieldpath) read, for the event files that ask for them: containers, snapshots and
 * tasks. Everything else reads as absent there: numbers, timestamps, lists, and whole event types (images,
 * namespaces, content, sandboxes). Snapshot events' `snapshotter` is among the absent too: containerd added
 * the field after its Field methods were generated, and never regenerated them.
 */
const EVENT_FIELDS: readonly EventFields[] = [
  { schema: ContainerCreateSchema, fields: { id: 'string', image: 'string', runtime: 'message' } },
  { schema: ContainerCreate_RuntimeSchema, fields: { name: 'string', options: 'any' } },
  { schema: ContainerUpdateSchema, fields: { id: 'string', image: 'string', labels: 'labels', snapshot_key: 'string' } },
  { schema: ContainerDeleteSchema, fields: { id: 'string' } },
  { schema: SnapshotPrepareSchema, fields: { key: 'string', parent: 'string' } },
  { schema: SnapshotCommitSchema, fields: { key: 'string', name: 'string' } },
  { schema: SnapshotRemoveSchema, fields: { key: 'string' } },
  { schema: TaskCreateSchema, fields: { container_id: 'string', bundle: 'string', io: 'message', checkpoint: 'string' } },
  { schema: TaskIOSchema, fields: { stdin: 'string', stdout: 'string', stderr: 'string', terminal: 'bool' } },
  { schema: TaskStartSchema, fields: { container_id: 'string' } },
  { schema: TaskDeleteSchema, fields: { container_id: 'string', id: 'string' } },
  { schema: TaskExitSchema, fields: { container_id: 'string', id: 'string' } },
  { schema: TaskOOMSchema, fields: { container_id: 'string' } },
  { schema: TaskExecAddedSchema, fields: { container_id: 'string', exec_id: 'string' } },
  { schema: TaskExecStartedSchema, fields: { container_id: 'string', exec_id: 'string' } },
  { schema: TaskPausedSchema, fields: { container_id: 'string' } },
  { schema: TaskResumedSchema, fields: { container_id: 'string' } },
  { schema: TaskCheckpointedSchema, fields: { container_id: 'string', checkpoint: 'string' } },
];

const byTypeName = new Map(EVENT_FIELDS.map((e) => [e.schema.typeName, e]));

/** A type URL names its type after the last '/' (containerd writes bare names; others add a host). */
const typeNameOf = (typeUrl: string) => typeUrl.slice(typeUrl.lastIndexOf('/') + 1);

function messageField(msg: Message, schema: DescMessage, path: readonly string[]): FieldValue {
  const [head, ...rest] = path;
  const rule = head === undefined ? undefined : byTypeName.get(schema.typeName)?.fields[head];
  const desc = rule === undefined ? undefined : schema.fields.find((f) => f.name === head);
  if (rule === undefined || desc === undefined) return ABSENT;
  const value = (msg as unknown as Record<string, unknown>)[desc.localName];
  switch (rule) {
    case 'string':
      return scalar(value as string);
    case 'bool':
      return { value: String(value), present: true };
    case 'labels':
      return checkMap(rest, value as Record<string, string>);
    case 'message':
      return value === undefined || desc.message === undefined ? ABSENT : messageField(value as Message, desc.message, rest);
    case 'any':
      return value === undefined ? ABSENT : anyField(value as Any, rest);
  }
}

/** An Any decoded, if it is one of the event types above: containerd can only look into those. */
function decode(any: Any): { msg: Message; schema: DescMessage } | undefined {
  const fields = byTypeName.get(typeNameOf(any.typeUrl));
  if (fields === undefined) return undefined;
  try {
    return { msg: fromBinary(fields.schema, any.value), schema: fields.schema };
  } catch {
    return undefined;
  }
}

function anyField(any: Any, path: readonly string[]): FieldValue {
  const decoded = decode(any);
  return decoded === undefined ? ABSENT : messageField(decoded.msg, decoded.schema, path);
}

/**
 * containerd's Envelope.Field: `namespace`, `topic`, and `event.<field>` through the event's own fields.
 * The event is decoded at most once per envelope, and only if a filter asks about it.
 */
export function adaptEnvelope(e: Envelope): Adaptor {
  let event: ReturnType<typeof decode> | null = null;
  return {
    field(fieldpath) {
      const [head, ...rest] = fieldpath;
      switch (head) {
        case 'namespace':
          return scalar(e.namespace);
        case 'topic':
          return scalar(e.topic);
        case 'event':
          if (event === null) event = e.event === undefined ? undefined : decode(e.event);
          return event === undefined ? ABSENT : messageField(event.msg, event.schema, rest);
        default:
          return ABSENT;
      }
    },
  };
}

/**
 * A subscription's filters as a predicate over envelopes: an envelope passes when any filter matches.
 * A malformed filter throws InvalidArgument here, before anything is subscribed, worded as containerd's
 * exchange words it.
 */
export function compileEnvelopeFilter(filters: readonly string[]): (e: Envelope) => boolean {
  let filter: Filter;
  try {
    filter = parseAll(...filters);
  } catch (err) {
    if (err instanceof InvalidFilterError) throw new InvalidArgumentError(`failed parsing subscription filters: ${err.message}`, { cause: err });
    throw err;
  }
  return (e) => filter.match(adaptEnvelope(e));
}
