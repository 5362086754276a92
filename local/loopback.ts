/**
 * The local runtime answers only this machine, and only its own page among the browser's tabs. Every
 * listener binds loopback, so other hosts cannot connect; but any page open in the developer's browser
 * can still reach loopback, either cross-origin (a form-less `fetch` with `mode: 'no-cors'` needs no
 * preflight) or through DNS rebinding (a name of the attacker's that resolves to 127.0.0.1 makes its
 * requests same-origin). The checks here stop both: the `Host` must be a name of loopback, and an
 * `Origin`, when a browser sends one, must be one the listener expects. DynamoDB Local applies the
 * same rule in Java (local/LoopbackDynamoDbLocal.java).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The address every listener of the runtime binds. */
export const LOOPBACK_HOST = '127.0.0.1';

const IPV4_LOOPBACK = /^127(\.\d{1,3}){3}$/;

/**
 * Whether `hostname` names this machine's loopback: `localhost` and its subdomains (RFC 6761, and
 * browsers resolve them so), 127.0.0.0/8 and `[::1]`. A name that merely resolves to loopback today does
 * not count: that is what DNS rebinding relies on.
 */
export function isLoopbackHostname(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    IPV4_LOOPBACK.test(name) ||
    name === '[::1]' ||
    name === '::1'
  );
}

/** The hostname of a `Host` header (`name:port`, `[v6]:port`), or undefined when it is absent or unreadable. */
function hostnameOf(host: string | undefined): string | undefined {
  if (host === undefined || host === '') return undefined;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
}

/** Why a request is refused, as a status and a message for the answer. */
export interface Refusal {
  status: 403;
  message: string;
}

/**
 * Refuses a request whose `Host` is not a name of loopback (DNS rebinding), or which carries an `Origin`
 * that `allowOrigin` does not accept (another site's page). Tools (the SDK, curl) send no `Origin` and pass.
 * @param allowOrigin decides on an `Origin` the request carries; by default none is accepted.
 */
export function refuseForeignRequest(
  headers: IncomingHttpHeaders,
  allowOrigin: (origin: string, host: string) => boolean = () => false,
): Refusal | undefined {
  const host = headers.host;
  const hostname = hostnameOf(host);
  if (host === undefined || hostname === undefined || !isLoopbackHostname(hostname))
    return { status: 403, message: `Refused: the Host ${host ?? '(none)'} is not a name of this machine` };
  const origin = headers.origin;
  if (origin !== undefined && !allowOrigin(origin, host))
    return { status: 403, message: `Refused: requests from ${origin} are not accepted here` };
  return undefined;
}

/** The origin of a page served under this `Host`: the only one the control plane accepts requests from. */
export const sameOrigin = (origin: string, host: string): boolean => origin === `http://${host}`;
