/**
 * How API Gateway runs a Lambda REQUEST authorizer on `$connect`: identity sources are checked before
 * the function is invoked, its answer maps to 401/403/500 exactly as on AWS, and an Allow policy must
 * cover the `methodArn` (IAM wildcards `*` and `?` included).
 */
import type { HandshakeRequest } from './events';
import { isRecord } from './values';

/** The authorizer decided: a status that refuses the handshake, or the context of an allowed one. */
export type AuthorizerOutcome =
  | { allowed: true; principalId: string; context: Record<string, string> }
  | { allowed: false; status: 401 | 403 | 500; message: string };

const IDENTITY_SOURCE = /^route\.request\.(header|querystring)\.(.+)$/;

/**
 * Throws when an identity source uses a form the emulator does not implement, so a typo fails at
 * start-up instead of refusing every client.
 */
export function assertIdentitySources(sources: readonly string[]): void {
  for (const source of sources) {
    if (!IDENTITY_SOURCE.test(source)) {
      throw new Error(
        `Unsupported identity source '${source}': use route.request.header.NAME or route.request.querystring.NAME`,
      );
    }
  }
}

/**
 * Whether every identity source has a non-empty value. API Gateway answers 401 without invoking the
 * authorizer when one is missing. Header names match case-insensitively, query names exactly.
 */
export function identityPresent(sources: readonly string[], request: HandshakeRequest): boolean {
  return sources.every((source) => {
    const [, where, name = ''] = IDENTITY_SOURCE.exec(source) ?? [];
    const value =
      where === 'header'
        ? Object.entries(request.headers).find(([header]) => header.toLowerCase() === name.toLowerCase())?.[1]
        : request.queryStringParameters?.[name];
    return value !== undefined && value !== '';
  });
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** IAM string matching: `*` is any run of characters, `?` one character. */
function wildcardMatches(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

/**
 * Evaluates a policy document as API Gateway does for `execute-api:Invoke` on `methodArn`: an explicit
 * Deny wins, otherwise a matching Allow is needed.
 */
export function policyAllows(policyDocument: unknown, methodArn: string): boolean {
  if (!isRecord(policyDocument)) return false;
  let allowed = false;
  for (const statement of asList(policyDocument.Statement)) {
    if (!isRecord(statement)) continue;
    const actionMatches = asList(statement.Action).some(
      (action) => typeof action === 'string' && wildcardMatches(action, 'execute-api:Invoke', true),
    );
    const resourceMatches = asList(statement.Resource).some(
      (resource) => typeof resource === 'string' && wildcardMatches(resource, methodArn),
    );
    if (!actionMatches || !resourceMatches) continue;
    if (statement.Effect === 'Deny') return false;
    if (statement.Effect === 'Allow') allowed = true;
  }
  return allowed;
}

function isUnauthorized(err: unknown): boolean {
  return err === 'Unauthorized' || (err instanceof Error && err.message === 'Unauthorized');
}

/**
 * Invokes the authorizer and maps its answer: a thrown `Unauthorized` is 401, a policy that does not
 * allow `methodArn` is 403, any other throw or a malformed result (no principalId, a context value that
 * is not a string, number or boolean) is 500. Context values reach the routes stringified, as API
 * Gateway documents ("numberKey": "1"), so a route that reads a number must parse it.
 */
export async function runAuthorizer(
  invoke: (event: unknown) => Promise<unknown>,
  event: { methodArn: string },
): Promise<AuthorizerOutcome> {
  let result: unknown;
  try {
    result = await invoke(event);
  } catch (err: unknown) {
    if (isUnauthorized(err)) return { allowed: false, status: 401, message: 'Unauthorized' };
    return { allowed: false, status: 500, message: 'Internal Server Error' };
  }
  if (!isRecord(result) || typeof result.principalId !== 'string' || !isRecord(result.policyDocument)) {
    return { allowed: false, status: 500, message: 'Internal Server Error' };
  }
  const context: Record<string, string> = {};
  for (const [key, value] of Object.entries(isRecord(result.context) ? result.context : {})) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      return { allowed: false, status: 500, message: 'Internal Server Error' };
    }
    context[key] = String(value);
  }
  if (!policyAllows(result.policyDocument, event.methodArn)) {
    return { allowed: false, status: 403, message: 'Forbidden' };
  }
  return { allowed: true, principalId: result.principalId, context };
}
