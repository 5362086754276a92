/**
 * The deployed web page gets the security headers the local control plane sends it, from a CloudFront
 * response-headers policy: its CSP lets the page connect to its own origin, this API and this bucket,
 * and nowhere else.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { pageContentSecurityPolicy } from '../../lib/web-headers';
import { synthStack } from './template';

interface PolicyConfig {
  SecurityHeadersConfig: {
    ContentSecurityPolicy: { ContentSecurityPolicy: unknown; Override: boolean };
    [header: string]: unknown;
  };
}

/** A synthesized string as text, each CloudFormation reference in it written as `<Ref:X>` or `<GetAtt:X.Attr>`. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].map(render).join(join[0]);
  const ref = (value as { Ref?: string }).Ref;
  if (ref !== undefined) return `<Ref:${ref}>`;
  const getAtt = (value as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  if (getAtt) return `<GetAtt:${getAtt[0]}.${getAtt[1]}>`;
  return JSON.stringify(value);
}

/** Directive name → its sources. */
function directives(csp: string): Record<string, string[]> {
  return Object.fromEntries(
    csp.split(';').map((directive) => {
      const [name = '', ...sources] = directive.trim().split(/\s+/);
      return [name, sources];
    }),
  );
}

function onlyOf(template: Template, type: string): [string, Record<string, unknown>] {
  const [entry, ...others] = Object.entries(template.findResources(type));
  if (entry === undefined || others.length > 0) throw new Error(`expected one ${type}`);
  return [entry[0], (entry[1] as { Properties: Record<string, unknown> }).Properties];
}

describe('web page security headers', () => {
  let template: Template;
  let config: PolicyConfig;
  let csp: Record<string, string[]>;
  beforeAll(() => {
    template = synthStack({ webSecurityHeaders: true });
    config = onlyOf(template, 'AWS::CloudFront::ResponseHeadersPolicy')[1]
      .ResponseHeadersPolicyConfig as PolicyConfig;
    csp = directives(render(config.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy));
  });

  it("lets the page connect to its own origin, this API's wss:// origin and the attachments bucket, and nowhere else", () => {
    const [api] = onlyOf(template, 'AWS::ApiGatewayV2::Api');
    const [bucket] = onlyOf(template, 'AWS::S3::Bucket');

    expect(csp['connect-src']).toEqual([
      "'self'",
      `wss://<Ref:${api}>.execute-api.<Ref:AWS::Region>.<Ref:AWS::URLSuffix>`,
      `https://<GetAtt:${bucket}.RegionalDomainName>`,
    ]);
    expect(csp['img-src']).toEqual(["'self'", 'data:', `https://<GetAtt:${bucket}.RegionalDomainName>`]);
  });

  it('sends the directives the local control plane sends, and refuses framing, plugins, <base> and form posts', () => {
    const local = directives(
      pageContentSecurityPolicy({ webSocketOrigin: 'ws://127.0.0.1:1', attachmentOrigins: [] }),
    );

    expect(Object.keys(csp)).toEqual(Object.keys(local));
    expect(csp).toMatchObject({
      'default-src': ["'self'"],
      'object-src': ["'none'"],
      'base-uri': ["'none'"],
      'form-action': ["'none'"],
      'frame-ancestors': ["'none'"],
    });
    expect(config.SecurityHeadersConfig.ContentSecurityPolicy.Override).toBe(true);
  });

  it('adds HSTS for a year, nosniff, X-Frame-Options DENY and no Referer, each overriding the origin', () => {
    expect(config.SecurityHeadersConfig).toMatchObject({
      StrictTransportSecurity: {
        AccessControlMaxAgeSec: 31_536_000,
        IncludeSubdomains: false,
        Override: true,
      },
      ContentTypeOptions: { Override: true },
      FrameOptions: { FrameOption: 'DENY', Override: true },
      ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
    });
  });

  it('outputs the policy id for the distribution that serves the page', () => {
    const [policy] = onlyOf(template, 'AWS::CloudFront::ResponseHeadersPolicy');

    expect(template.findOutputs('WebResponseHeadersPolicyId').WebResponseHeadersPolicyId?.Value).toEqual({
      Ref: policy,
    });
  });

  it('is not created unless asked for', () => {
    expect(synthStack().findResources('AWS::CloudFront::ResponseHeadersPolicy')).toEqual({});
  });
});
