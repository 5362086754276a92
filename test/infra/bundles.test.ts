import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatBundling } from '../../lib/chat-function';
import { ServerlessChatStack } from '../../lib/chat-stack';
import { FUNCTIONS, type FunctionWiring } from '../../lib/wiring';
import {
  BUNDLE_BUDGET_BYTES,
  type BuiltBundle,
  buildBundles,
  functionEnvironments,
  sdkRequiresOf,
} from './bundles';

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/**
 * The SDK packages a function's wiring says it uses. A queue it consumes as an event source needs an SQS
 * client too: Lambda receives and deletes, but the consumer shortens a failed record's visibility
 * (lambdas/fanout/retry.ts); so does receiving a dead-letter queue by hand.
 */
function sdkPackagesDeclared(wiring: FunctionWiring): string[] {
  const sqs =
    [wiring.fanoutQueue, wiring.deadLetterQueue, wiring.shardQueue].some((access) => access !== undefined) ||
    wiring.shardDeadLetterQueue !== undefined;
  return [
    ...(Object.keys(wiring.tables).length > 0
      ? ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb', '@aws-sdk/util-dynamodb']
      : []),
    ...(sqs ? ['@aws-sdk/client-sqs'] : []),
    ...(wiring.managementApi ? ['@aws-sdk/client-apigatewaymanagementapi'] : []),
    ...(wiring.attachments ? ['@aws-sdk/client-s3'] : []),
    ...(wiring.attachments === 'sign' ? ['@aws-sdk/s3-presigned-post', '@aws-sdk/s3-request-presigner'] : []),
    ...(wiring.eventBus ? ['@aws-sdk/client-eventbridge'] : []),
  ].sort();
}

describe('Lambda bundles, built by the stack with its own esbuild settings', () => {
  const outdir = mkdtempSync(path.join(tmpdir(), 'chat-bundles-'));
  let bundles: BuiltBundle[] = [];

  beforeAll(() => {
    bundles = buildBundles(outdir);
  }, 120_000);

  afterAll(() => {
    rmSync(outdir, { recursive: true, force: true });
  });

  it('builds one bundle for every function of lib/wiring.ts', () => {
    expect(bundles.map((bundle) => bundle.name).sort()).toEqual(Object.keys(FUNCTIONS).sort());
  });

  it('keeps every bundle under 150 KB', () => {
    const oversized = bundles
      .filter((bundle) => bundle.bytes >= BUNDLE_BUDGET_BYTES)
      .map((bundle) => `${bundle.name}: ${kb(bundle.bytes)}`);

    // A jump of tens of KB is most often zod's classic API (`import * as z from 'zod'`, about 90 KB):
    // write schemas with shared/protocol/zod.ts, zod/mini with its English messages.
    expect(oversized).toEqual([]);
    expect(BUNDLE_BUDGET_BYTES).toBe(150 * 1024);
  });

  it('leaves the AWS SDK to the nodejs22.x runtime: bundles require it instead of carrying it', () => {
    for (const bundle of bundles) {
      const code = readFileSync(bundle.file, 'utf8');

      expect(code, bundle.name).not.toMatch(/name:"@aws-sdk\/client-[a-z-]+",version:/);
      if (Object.keys(FUNCTIONS[bundle.name].tables).length > 0) {
        expect(code, bundle.name).toContain('require("@aws-sdk/lib-dynamodb")');
      }
    }
  });

  it('requires exactly the SDK packages its wiring uses, so a cold start loads no other client', () => {
    const required = Object.fromEntries(bundles.map((bundle) => [bundle.name, sdkRequiresOf(bundle.file)]));
    const declared = Object.fromEntries(
      bundles.map((bundle) => [bundle.name, sdkPackagesDeclared(FUNCTIONS[bundle.name])]),
    );

    // esbuild keeps every require of an external package a bundle reaches, used or not: a module that
    // imports several clients (as shared/aws.ts once did) makes every function that reaches it load them all.
    // Give each client its own module (shared/aws/) and keep imports of it off paths its non-users take.
    expect(required).toEqual(declared);
  });

  it('ships no source map and sets no --enable-source-maps by default', () => {
    for (const bundle of bundles) {
      expect(existsSync(`${bundle.file}.map`), bundle.name).toBe(false);
      expect(bundle.environment.NODE_OPTIONS, bundle.name).toBeUndefined();
    }
  });
});

describe('functionBundling', () => {
  it('ships a source map without sources and sets --enable-source-maps when sourceMaps is on', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new ServerlessChatStack(app, 'SourceMaps', { functionBundling: { sourceMaps: true } });

    const environments = Object.values(functionEnvironments(stack));

    expect(environments.map((environment) => environment.NODE_OPTIONS)).toEqual(
      Object.keys(FUNCTIONS).map(() => '--enable-source-maps'),
    );
    expect(chatBundling({ sourceMaps: true })).toMatchObject({ sourceMap: true, sourcesContent: false });
  });

  it('bundles the AWS SDK, from its ES module build, when bundleAwsSdk is on', () => {
    expect(chatBundling({ bundleAwsSdk: true })).toMatchObject({
      externalModules: [],
      mainFields: ['module', 'main'],
    });
    expect(chatBundling()).toMatchObject({ externalModules: ['@aws-sdk/*', '@smithy/*'], minify: true });
  });
});
