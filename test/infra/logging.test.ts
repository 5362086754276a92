/**
 * Every function logs in Lambda's JSON format with the system log level at WARN, which drops the
 * platform's START, END and REPORT lines (docs/cost.md "Cutting the 1:1 path"), and the application
 * level at INFO, which keeps the Powertools lines and the EMF metrics. The bench prices logs from the
 * same configuration, so the bill follows what the stack deploys.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { platformLogBytesPerInvocation } from '../../bench/meter';
import type { FunctionLogging } from '../../lib/function-logging';
import { FUNCTIONS, type FunctionName } from '../../lib/wiring';
import { lambdaOf, synthStack } from './template';

const functionNames = Object.keys(FUNCTIONS) as FunctionName[];

/** A function's LoggingConfig as synthesized. */
interface LoggingConfig {
  LogFormat?: FunctionLogging['format'];
  SystemLogLevel?: FunctionLogging['systemLogLevel'];
  ApplicationLogLevel?: FunctionLogging['applicationLogLevel'];
}

const loggingOf = (template: Template, name: FunctionName): LoggingConfig =>
  lambdaOf(template, name).props.LoggingConfig as LoggingConfig;

let template: Template;
beforeAll(() => {
  template = synthStack();
});

describe('function logging', () => {
  it.each(functionNames)('writes %s in the JSON format, system lines at WARN, its own at INFO', (name) => {
    expect(loggingOf(template, name)).toMatchObject({
      LogFormat: 'JSON',
      SystemLogLevel: 'WARN',
      ApplicationLogLevel: 'INFO',
    });
  });

  it('lets the bench count no platform lines for the deployed configuration, and about 340 bytes without it', () => {
    const deployed = loggingOf(template, 'send');

    const bytes = platformLogBytesPerInvocation({
      format: deployed.LogFormat ?? 'Text',
      systemLogLevel: deployed.SystemLogLevel ?? 'INFO',
    });

    expect(bytes).toBe(0);
    expect(platformLogBytesPerInvocation({ format: 'Text', systemLogLevel: 'WARN' })).toBeGreaterThan(300);
    expect(platformLogBytesPerInvocation({ format: 'JSON', systemLogLevel: 'INFO' })).toBeGreaterThan(300);
  });
});
