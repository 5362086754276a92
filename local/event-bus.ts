/**
 * A stand-in for one EventBridge bus: it answers PutEvents (JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`)
 * as EventBridge does and records every entry, so the local runtime and its tests can see the offline
 * events the fan-out puts. Nothing consumes them; a rule or target is out of scope.
 */
import { randomUUID } from 'node:crypto';

/** One event as the bus recorded it; `detail` is the parsed `Detail` JSON. */
export interface RecordedEvent {
  eventId: string;
  eventBusName: string;
  source: string;
  detailType: string;
  detail: unknown;
  time: string;
}

export interface EventBusReply {
  status: number;
  body: unknown;
}

export interface LocalEventBus {
  name: string;
  /** Every event put so far, oldest first. */
  readonly events: readonly RecordedEvent[];
  /** Answers one JSON 1.1 request to the EventBridge API. */
  handle(target: string | undefined, body: string): EventBusReply;
}

/** PutEvents takes 1 to 10 entries per call. */
const MAX_ENTRIES = 10;

function clientError(type: string, message: string): EventBusReply {
  return { status: 400, body: { __type: type, message } };
}

/** A bus named `name` that accepts PutEvents for it (by name or as the default when no name is given). */
export function createLocalEventBus(name: string): LocalEventBus {
  const events: RecordedEvent[] = [];
  return {
    name,
    events,
    handle(target, body) {
      if (target !== 'AWSEvents.PutEvents') {
        return clientError(
          'UnknownOperationException',
          `The local bus answers PutEvents only, not ${target}`,
        );
      }
      let request: { Entries?: unknown };
      try {
        request = JSON.parse(body) as { Entries?: unknown };
      } catch {
        return clientError('SerializationException', 'The request body is not JSON');
      }
      const entries = request.Entries;
      if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
        return clientError('ValidationException', `Entries must hold 1 to ${MAX_ENTRIES} entries`);
      }
      const results = entries.map((entry: Record<string, unknown>) => {
        const busName = entry.EventBusName ?? name;
        if (busName !== name) {
          return {
            ErrorCode: 'ResourceNotFoundException',
            ErrorMessage: `Event bus ${String(busName)} does not exist.`,
          };
        }
        if (
          typeof entry.Source !== 'string' ||
          typeof entry.DetailType !== 'string' ||
          typeof entry.Detail !== 'string'
        ) {
          return {
            ErrorCode: 'MalformedDetail',
            ErrorMessage: 'Source, DetailType and Detail are required.',
          };
        }
        let detail: unknown;
        try {
          detail = JSON.parse(entry.Detail);
        } catch {
          return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
        }
        const eventId = randomUUID();
        events.push({
          eventId,
          eventBusName: name,
          source: entry.Source,
          detailType: entry.DetailType,
          detail,
          time: new Date().toISOString(),
        });
        return { EventId: eventId };
      });
      const failed = results.filter((result) => 'ErrorCode' in result).length;
      return { status: 200, body: { FailedEntryCount: failed, Entries: results } };
    },
  };
}
