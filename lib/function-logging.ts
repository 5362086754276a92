/**
 * How every chat function logs on AWS, as plain data: ChatFunction (lib/chat-function.ts) sets it on
 * each function and the bench (bench/meter.ts) counts log bytes from it, so the bill cannot price a
 * configuration the stack does not deploy. This file must not import aws-cdk-lib.
 */

/** The part of a function's logging configuration that decides which platform lines Lambda writes. */
export interface FunctionLogging {
  /** Lambda's log format, as CloudFormation names it. */
  format: 'JSON' | 'Text';
  /** Lambda's system log level (ignored by the Text format, which filters nothing). */
  systemLogLevel: 'DEBUG' | 'INFO' | 'WARN';
  /** Lambda's application log level (ignored by the Text format). */
  applicationLogLevel?: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';
}

/**
 * Lambda's advanced logging controls of every chat function.
 *
 * - `format` JSON: level filtering works only on the JSON format. The handlers' lines do not change:
 *   Powertools' logger and metrics write whole JSON lines to stdout themselves, which Lambda passes on.
 * - `systemLogLevel` WARN: the platform's START, END and REPORT lines (about 340 bytes per invocation,
 *   more than a message's own INFO lines) are INFO events, so they are dropped. What REPORT told
 *   (duration, memory, a timeout) stays in Lambda's metrics (Duration, Errors) and the X-Ray traces.
 * - `applicationLogLevel` INFO: Powertools reads it (AWS_LAMBDA_LOG_LEVEL) as its own level. It must
 *   not go above INFO: the EMF metric lines carry no level, which Lambda reads as INFO, so a WARN here
 *   would drop every custom metric and the alarms built on them.
 */
export const FUNCTION_LOGGING = {
  format: 'JSON',
  systemLogLevel: 'WARN',
  applicationLogLevel: 'INFO',
} as const satisfies FunctionLogging;

/**
 * Whether Lambda writes the platform's per-invocation lines (START, END, REPORT) at `systemLogLevel`:
 * they are INFO events, so at INFO and DEBUG (or in the plain-text format, which has no filtering).
 */
export function writesPlatformLines(logging: FunctionLogging): boolean {
  return logging.format === 'Text' || logging.systemLogLevel !== 'WARN';
}
