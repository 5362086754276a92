/**
 * Building every chat function's bundle as `cdk synth` does: the stack itself, synthesized with bundling
 * on, so a bundle carries exactly the esbuild settings lib/chat-function.ts gives it. Shared by
 * test/infra/bundles.test.ts (sizes) and bench/bundles.ts (sizes and load times).
 */
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { ChatFunction } from '../../lib/chat-function';
import { ServerlessChatStack, type ServerlessChatStackProps } from '../../lib/chat-stack';
import { constructId } from '../../lib/chat-tables';
import { FUNCTIONS, type FunctionName } from '../../lib/wiring';

/**
 * Issue 17's ceiling for every function's bundle (index.js, minified). What fills one is in
 * docs/operations.md#bundles.
 */
export const BUNDLE_BUDGET_BYTES = 150 * 1024;

/** One function's bundle as CDK staged it for upload. */
export interface BuiltBundle {
  readonly name: FunctionName;
  /** Absolute path of the bundle, index.js (index.js.map beside it when source maps are on). */
  readonly file: string;
  readonly bytes: number;
  /** The function's environment as the stack sets it (functionEnvironments). */
  readonly environment: Record<string, string>;
}

/**
 * The environment of every function of `stack`, each CloudFormation reference (a table name, a queue
 * URL) replaced by a placeholder, so a bundle can be loaded outside AWS.
 */
export function functionEnvironments(
  stack: ServerlessChatStack,
): Record<FunctionName, Record<string, string>> {
  const entries = (Object.keys(FUNCTIONS) as FunctionName[]).map((name) => {
    const cfn = chatFunctionOf(stack, name).node.defaultChild as CfnFunction;
    const rendered = stack.resolve(cfn.environment) as { variables?: Record<string, unknown> } | undefined;
    const environment = Object.fromEntries(
      Object.entries(rendered?.variables ?? {}).map(([variable, value]) => [
        variable,
        typeof value === 'string' ? value : `https://placeholder.invalid/${variable}`,
      ]),
    );
    return [name, environment] as const;
  });
  return Object.fromEntries(entries) as Record<FunctionName, Record<string, string>>;
}

/**
 * Builds the stack with bundling into `outdir` and returns one bundle per lib/wiring.ts function. CDK
 * bundles while the stack is built, so no synth is needed; each esbuild run takes a fraction of a second.
 */
export function buildBundles(outdir: string, props: ServerlessChatStackProps = {}): BuiltBundle[] {
  const stack = new ServerlessChatStack(new App({ outdir }), 'Bundles', props);
  const environments = functionEnvironments(stack);
  return (Object.keys(FUNCTIONS) as FunctionName[]).map((name) => {
    const asset = chatFunctionOf(stack, name).node.findChild('Code') as Asset;
    const file = path.join(path.resolve(outdir, asset.assetPath), 'index.js');
    return { name, file, bytes: statSync(file).size, environment: environments[name] };
  });
}

/** The AWS SDK packages a bundle requires from the runtime, sorted (none when the SDK is bundled). */
export function sdkRequiresOf(file: string): string[] {
  const found = readFileSync(file, 'utf8').matchAll(/require\("((?:@aws-sdk|@smithy)\/[^"]+)"\)/g);
  return [...new Set(Array.from(found, (match) => match[1] ?? ''))].sort();
}

/** The ChatFunction the stack built for wiring row `name` (its construct id, as createFunctions names it). */
function chatFunctionOf(stack: ServerlessChatStack, name: FunctionName): ChatFunction {
  const fn = stack.node.tryFindChild(`${constructId(name)}Function`);
  if (!(fn instanceof ChatFunction)) throw new Error(`the stack has no ChatFunction for ${name}`);
  return fn;
}
