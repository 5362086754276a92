/** Finding the DynamoDB Local a test's `npm start` launched, to check that it ends with the runtime. */
import { execFileSync } from 'node:child_process';

/** PIDs of DynamoDB Local processes listening on `port` (the port, last in the command line, makes them ours). */
export function javaOnPort(port: number): number[] {
  try {
    return execFileSync('pgrep', ['-f', `DynamoDBLocal.jar.*-port ${port}$`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
