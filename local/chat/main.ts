/**
 * `npm run chat -- --user alice --to bob`: a terminal chat built on the client SDK (client/), against the
 * running local runtime (`npm start`) or, with `--url wss://… --token …`, a deployment. It creates or
 * joins one conversation (or room), shows its recent history, then others' messages as they come; each
 * line typed (or piped in) is one message, shown pending until the server acks it. With piped input it exits once
 * every message is acked, so it can be scripted.
 *
 * - args.ts: the command line and each line of input, parsed
 * - session.ts: one run: connect, create or join, read input, end with an exit code
 * - conversation-view.ts: the conversation on screen and the user's own messages with their state
 * - screen.ts: plain lines for pipes, or a terminal with a prompt
 * - room-notes.ts: who is online and typing, from the SDK's `room.state`; elsewhere.ts: news from the
 *   user's other conversations, and their names
 * - rooms.ts: `--new-room` and `--room` (rooms: audiences without a member list), `/room`,
 *   `/slowmode`, `/tick`, and a line that waits its slow-mode turn
 * - format.ts: how each line reads (refusals in the words of client/error-words.ts); upload.ts: what
 *   `/attach` needs
 */
import { type Command, parseArgs, USAGE, UsageError } from './args';
import { errorText } from './format';
import { PlainScreen, TerminalScreen } from './screen';
import { run } from './session';

async function main(): Promise<number> {
  let command: Command;
  try {
    command = parseArgs(process.argv.slice(2));
  } catch (err: unknown) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (command.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
  return run(command.options, interactive ? new TerminalScreen() : new PlainScreen(), interactive);
}

if (require.main === module) {
  // A reader that went away (`| head`) ends the chat quietly.
  process.stdout.on('error', () => process.exit(1));
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${errorText(err, 'open')}\n`);
      process.exit(1);
    },
  );
}
