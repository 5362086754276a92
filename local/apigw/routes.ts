/** From a client's messages to route invocations. */
import type { RawData } from 'ws';

/** The JSON path of `$request.body.<path>`; anything else is a configuration error. */
export function selectionPath(expression: string): string[] {
  const match = /^\$request\.body\.([A-Za-z0-9_$]+(?:\.[A-Za-z0-9_$]+)*)$/.exec(expression);
  if (match?.[1] === undefined) {
    throw new Error(`Unsupported routeSelectionExpression '${expression}': use $request.body.<field>`);
  }
  return match[1].split('.');
}

export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
