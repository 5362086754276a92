import { Duration, Stack } from 'aws-cdk-lib';
import type { IWebSocketApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { HeadersFrameOption, HeadersReferrerPolicy, ResponseHeadersPolicy } from 'aws-cdk-lib/aws-cloudfront';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { pageContentSecurityPolicy } from './web-headers';

export interface WebSecurityHeadersProps {
  /** The WebSocket API the page connects to: its wss:// origin is the one socket the CSP allows. */
  readonly webSocketApi: IWebSocketApi;
  /** The attachments bucket: its regional https origin is where the CSP lets the page upload and download. */
  readonly attachmentsBucket: IBucket;
  /**
   * How long browsers remember to reach the page over HTTPS only (Strict-Transport-Security max-age).
   * Subdomains are left out: they belong to whoever owns the domain, not to this page.
   * @default Duration.days(365)
   */
  readonly hstsMaxAge?: Duration;
}

/**
 * A CloudFront response-headers policy for the deployed web page, with the headers the local control
 * plane sends it (local/control.ts) plus those only HTTPS hosting can send: a Content-Security-Policy
 * whose connect-src allows the page's own origin, this API's wss:// origin and the attachments bucket,
 * and nothing else (lib/web-headers.ts), HSTS, `nosniff`, `X-Frame-Options: DENY` with
 * `frame-ancestors 'none'`, and no Referer to other sites. Attach `policy` to the behaviours of the
 * distribution that serves the page (docs/operations.md).
 */
export class WebSecurityHeaders extends Construct {
  readonly policy: ResponseHeadersPolicy;
  /** The Content-Security-Policy value the policy sends (it holds tokens until deployment). */
  readonly contentSecurityPolicy: string;

  constructor(scope: Construct, id: string, props: WebSecurityHeadersProps) {
    super(scope, id);
    const { region, urlSuffix } = Stack.of(this);
    this.contentSecurityPolicy = pageContentSecurityPolicy({
      // The origin of every stage's wss:// URL, built as WebSocketStage builds its url.
      webSocketOrigin: `wss://${props.webSocketApi.apiId}.execute-api.${region}.${urlSuffix}`,
      attachmentOrigins: [`https://${props.attachmentsBucket.bucketRegionalDomainName}`],
    });
    this.policy = new ResponseHeadersPolicy(this, 'Policy', {
      comment: 'serverless-chat web page: CSP to this API and bucket, HSTS, nosniff, no framing',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: this.contentSecurityPolicy, override: true },
        strictTransportSecurity: {
          accessControlMaxAge: props.hstsMaxAge ?? Duration.days(365),
          includeSubdomains: false,
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
  }
}
