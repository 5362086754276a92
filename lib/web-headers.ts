/**
 * The web page's Content-Security-Policy, as plain data: the CloudFront response-headers policy
 * (lib/web-security-headers.ts) builds the deployed page's header from it. This file must not import
 * aws-cdk-lib, so the local control plane can send the same policy.
 */

/** Where the page may connect and load images from, besides its own origin. */
export interface PageOrigins {
  /** The WebSocket API's origin, `wss://<api>.execute-api.<region>.amazonaws.com`. */
  readonly webSocketOrigin: string;
  /**
   * Where presigned attachment URLs point (uploads and downloads go there with fetch, inline images
   * load from there): the bucket's regional origin on AWS.
   */
  readonly attachmentOrigins: readonly string[];
}

/**
 * The page's CSP: scripts, styles and everything else from its own origin only; connections to its own
 * origin (`/config.json`), the WebSocket API and the attachments bucket, and nowhere else; images also
 * as `data:` URLs; no plugins, no `<base>`, no form posts, and no framing by any page (clickjacking).
 */
export function pageContentSecurityPolicy(origins: PageOrigins): string {
  const attachments = origins.attachmentOrigins.join(' ');
  return [
    "default-src 'self'",
    `connect-src 'self' ${origins.webSocketOrigin} ${attachments}`,
    `img-src 'self' data: ${attachments}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
