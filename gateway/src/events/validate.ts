import { InvalidArgumentError } from '@flotilla/errdefs';
import { validateIdentifier } from '@flotilla/rpc';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';

/**
 * What the exchange accepts from outside the gateway (a client's Publish, a process's Forward), checked
 * as containerd's exchange checks it. The gateway's own services publish fixed, known-good topics.
 */

/** The reason a topic is refused, without the context the caller adds. */
function topicError(topic: string): string | undefined {
  if (topic === '') return 'must not be empty';
  if (!topic.startsWith('/')) return 'must start with \'/\'';
  if (topic.length === 1) return 'must have at least one component';
  // Every component is an identifier, so topics read like paths and filters can match them literally.
  for (const component of topic.slice(1).split('/')) {
    try {
      validateIdentifier(component);
    } catch (err) {
      return `failed validation on component ${JSON.stringify(component)}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** A topic as a path of identifiers: `/tasks/exit`. */
export function validateTopic(topic: string): void {
  const why = topicError(topic);
  if (why !== undefined) throw new InvalidArgumentError(`envelope topic ${JSON.stringify(topic)}: ${why}`);
}

/**
 * An envelope forwarded as it is: it must name a valid namespace and topic, and carry the time it was first
 * published (the forwarder must not make one up). containerd 2.x reads a missing timestamp as the Unix
 * epoch and lets it through; refused here, as containerd 1.x and the check's purpose have it.
 */
export function validateEnvelope(e: Envelope): void {
  try {
    validateIdentifier(e.namespace);
  } catch (err) {
    throw new InvalidArgumentError(`event envelope has invalid namespace: ${(err as Error).message}`, { cause: err });
  }
  validateTopic(e.topic);
  if (e.timestamp === undefined) throw new InvalidArgumentError('timestamp must be set on forwarded event');
}
