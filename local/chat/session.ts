/** One run of the chat: connect, create or join the conversation, read input, and end with an exit code. */
import WebSocket from 'ws';
import { ChatRequestError, connect, type ReconnectReason, type RoomInfo } from '../../client';
import { NOT_IN_CONVERSATION } from '../../client/error-words';
import { readState } from '../state';
import type { ChatOptions } from './args';
import { ConversationView, type Ending } from './conversation-view';
import { ConversationNames, watchElsewhere } from './elsewhere';
import { errorText, type Line, line, printable, type Style } from './format';
import { acceptOnJoin } from './membership-commands';
import { noteRoomState } from './room-notes';
import { RoomWatch, startRoom } from './rooms';
import type { Screen } from './screen';
import { uploadFetch } from './upload';

/**
 * The `sub` claim of a JWT, read without verifying it: only to tell the user's own messages from
 * others' (the server never tells a connection who it is).
 */
export function tokenSubject(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload?.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

const REASONS: Record<ReconnectReason, string> = {
  lost: 'connection lost',
  no_answer: 'the server stopped answering',
  connection_gone: 'the server dropped this connection',
  max_age: 'the connection reached its age limit',
  token_expired: 'the token expired; connecting with a fresh one',
  refused: 'the server refused the token',
  too_many_connections: 'too many connections for this user (close another chat window or tab)',
};

/** Asks the running local runtime for a fresh token (it re-reads where the runtime is, every time). */
async function localToken(user: string): Promise<string> {
  const { controlUrl } = readState();
  const response = await fetch(`${controlUrl}/token?user=${encodeURIComponent(user)}&format=text`);
  const text = (await response.text()).trim();
  if (!response.ok) throw new Error(`the token endpoint answered HTTP ${response.status}: ${text}`);
  return text;
}

/** Runs the chat; resolves with the exit code. */
export async function run(options: ChatOptions, screen: Screen, interactive: boolean): Promise<number> {
  const { server } = options;
  const me = server.kind === 'local' ? server.user : tokenSubject(server.token);
  const url = server.kind === 'local' ? readState().webSocketUrl : server.url;

  // The `ws` package (Node 20 has no global WebSocket), watched for why a connection attempt failed
  // and for the socket to close when the chat ends: the SDK reports neither.
  const sockets = new Set<WebSocket>();
  /** Why the connection failed: its socket's error, or a token that could not be had. */
  let lastError: string | undefined;
  class WatchedWebSocket extends WebSocket {
    constructor(address: string) {
      super(address);
      sockets.add(this);
      this.on('error', (err) => {
        lastError = `${REASONS.lost}: ${err.message}`;
      });
      this.on('open', () => {
        lastError = undefined;
      });
      this.on('close', () => sockets.delete(this));
    }
  }
  const chat = connect({
    url,
    ...(server.kind === 'local' ? { tokenProvider: () => localToken(server.user) } : { token: server.token }),
    WebSocket: WatchedWebSocket,
    fetch: uploadFetch,
  });

  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let done = false;
  const end = (code: number, message?: Line) => {
    if (done) return;
    done = true;
    if (message) screen.note(message);
    finish(code);
  };
  const fatal = (message: string) => end(1, line([message, 'red']));

  let everOpened = false;
  let lastWhy: string | undefined;
  chat.on('connecting', ({ attempt }) => {
    if (attempt === 0) screen.note(line([`Connecting to ${url} as ${me ?? 'the token’s user'}…`, 'dim']));
  });
  chat.on('open', () => {
    screen.note(line([everOpened ? 'Reconnected.' : 'Connected.', 'dim']));
    everOpened = true;
    lastWhy = undefined;
  });
  chat.on('reconnecting', ({ attempt, delayMs, reason }) => {
    const why = (reason === 'lost' && lastError) || REASONS[reason];
    const refused = /Unexpected server response: (401|403)/.exec(lastError ?? '');
    if (refused && server.kind === 'remote') {
      fatal(`The server refused the token (HTTP ${refused[1]}); tokens expire: get a fresh one`);
      return;
    }
    // The reason once, not on every attempt of a long outage.
    const retry = `reconnecting in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt})`;
    screen.note(line([why === lastWhy ? `… ${retry}` : `${why}; ${retry}`, 'yellow']));
    lastWhy = why;
    lastError = undefined;
  });
  chat.on('error', ({ error }) => {
    // While dialling, it is the token provider's: the `reconnecting` that follows says it.
    if (chat.state === 'connecting') lastError = `no token: ${errorText(error, 'open')}`;
    else screen.note(line([errorText(error, 'open'), 'yellow']));
  });
  chat.on('closed', ({ reason }) => {
    if (reason === 'gave_up') fatal('Gave up reconnecting');
  });

  let view: ConversationView | undefined;
  const names = new ConversationNames(chat, me ?? '');
  /** How to go on after the conversation ended: this client shows one conversation a run. */
  const elsewhere =
    server.kind === 'local'
      ? `npm run chat -- --user ${server.user} --to <members> starts another; --conversation <id> joins one`
      : 'run the chat again with --to <members> to start another, or --conversation <id> to join one';
  let createdId: string | undefined;
  const conversationIdOf = () =>
    'conversationId' in options.conversation ? options.conversation.conversationId : (createdId ?? '');
  /** Where others join a room from: this runtime, or the deployment's URL. */
  const roomServer = server.kind === 'local' ? server : { kind: 'remote' as const, url: server.url };
  let ending: Ending | undefined;
  /**
   * The user is out of the open conversation: waits (bounded) for the outbox's verdict on what was typed,
   * marks what is still unsent ✗, says what happened and what to do next, and exits.
   */
  const conversationEnded = async (why: Ending): Promise<void> => {
    if (ending !== undefined || done) return;
    ending = why;
    const name = names.known(conversationIdOf());
    view?.stop(why.kind === 'left' ? 'you left this conversation' : 'the conversation is closed');
    if (why.kind !== 'left')
      screen.note(
        line([
          why.kind === 'gone'
            ? `${NOT_IN_CONVERSATION} It may have gone with a restart of the server, or you were removed.`
            : `${printable(why.by)} removed you from ${printable(name)}.`,
          'red',
        ]),
      );
    await view?.settled(Math.min(options.waitSeconds, 10) * 1000);
    view?.abandon(why.kind === 'removed' ? `you were removed from ${printable(name)}` : undefined);
    const { failed } = view?.counts() ?? { failed: 0 };
    const unsent = failed > 0 ? ` ${failed} message(s) not sent: they are marked ✗ above, to copy.` : '';
    const code = why.kind === 'left' && failed === 0 ? 0 : 1;
    const what = why.kind === 'left' ? `You left ${printable(name)}.` : 'This conversation is closed.';
    end(code, line([`${what}${unsent} Next: ${elsewhere}.`, code === 0 ? 'green' : 'red']));
  };
  /** Quits at once, saying what is lost: the outbox lives in memory. */
  const quit = (code: number) => {
    const unsent = view?.counts().pending ?? 0;
    end(code, unsent > 0 ? line([`Quit; ${unsent} message(s) not sent.`, 'yellow']) : undefined);
  };
  const onSignal = (signal: NodeJS.Signals) => quit(signal === 'SIGINT' ? 130 : 143);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const join = async (): Promise<void> => {
    const { conversation } = options;
    let conversationId: string;
    let room: RoomInfo | undefined;
    if (conversation.kind === 'createRoom' || conversation.kind === 'joinRoom') {
      room = await startRoom(chat, conversation, screen, roomServer);
      conversationId = room.conversationId;
      createdId = conversationId;
      names.learn(room);
    } else if (conversation.kind === 'create') {
      const created = await chat.createConversation(conversation.members, conversation.title);
      conversationId = created.conversationId;
      createdId = conversationId;
      names.learn(created);
      const title = created.title === undefined ? '' : ` "${printable(created.title)}"`;
      screen.show(
        line('Conversation ', [conversationId, 'bold'], ` created${title}: ${created.members.join(', ')}`),
      );
      const invited = created.invited ?? [];
      if (invited.length > 0)
        screen.show(
          line(
            ['Invited ', 'cyan'],
            [invited.join(', '), 'bold'],
            [': they are in once they accept (/accept, or by joining it)', 'cyan'],
          ),
        );
      const other = created.members.find((member) => member !== me) ?? conversation.members[0] ?? 'bob';
      const as =
        server.kind === 'local' ? `--user ${other}` : `--url ${server.url} --token <${other}'s token>`;
      screen.show(
        line('Join it from another terminal: ', [
          `npm run chat -- ${as} --conversation ${conversationId}`,
          'bold',
        ]),
      );
    } else {
      conversationId = conversation.conversationId;
      await acceptOnJoin(chat, conversationId, screen);
    }
    // Before the stream moves the read cursor: how much came since this user last read (if listed).
    const unread =
      conversation.kind === 'join'
        ? await chat.listAllConversations().then(
            ({ conversations }) => {
              const entry = conversations.find((c) => c.conversationId === conversationId);
              if (entry) names.learn(entry);
              return entry?.unread;
            },
            () => undefined,
          )
        : undefined;
    // Live only: showHistory reads the --history size the user asked for, with its header.
    const stream = chat.conversation(conversationId, { backlog: 0 });
    stream.on('error', (error) => {
      if (error.code === 'forbidden' || error.code === 'not_found') void conversationEnded({ kind: 'gone' });
      else fatal(`Cannot read the conversation: ${errorText(error, 'open')}`);
    });
    view = new ConversationView(chat, stream, screen, me, (why) => void conversationEnded(why));
    if (room) view.room = new RoomWatch(chat, room, screen, roomServer);
    watchElsewhere(chat, conversationId, names, screen, me);
    noteRoomState(chat, stream, screen, me);
    await stream.ready;
    // Only a room's subscribe answers a viewer count: a room joined with --conversation is one too.
    if (room === undefined && stream.state.viewers !== undefined) {
      room = await chat.roomInfo(conversationId).catch(() => undefined);
      if (room) view.room = new RoomWatch(chat, room, screen, roomServer);
    }
    if (conversation.kind === 'join')
      screen.show(
        line(
          'Conversation ',
          [conversationId, 'bold'],
          ` joined: ${printable(names.known(conversationId))}`,
          ...(unread ? [[` · ${unread} unread`, 'bold'] as [string, Style]] : []),
        ),
      );
    await view.showHistory(options.historySize);
  };

  /** The input ended: waits (bounded) for every message to be acked, then ends with the outcome. */
  const drain = async (): Promise<void> => {
    if (view === undefined || done) return;
    const waiting = view.counts().pending;
    if (waiting > 0)
      screen.note(
        line([`Waiting up to ${options.waitSeconds} s for ${waiting} message(s) to be acked…`, 'dim']),
      );
    await view.settled(options.waitSeconds * 1000);
    const { sent, failed, pending } = view.counts();
    const total = sent + failed + pending;
    const outcome = [`${sent} of ${total} messages sent`];
    if (failed > 0) outcome.push(`${failed} failed`);
    if (pending > 0) outcome.push(`${pending} still not acked after ${options.waitSeconds} s`);
    const ok = failed === 0 && pending === 0;
    end(ok ? 0 : 1, line([`${outcome.join('; ')}.`, ok ? 'green' : 'red']));
  };

  // With nobody at the keyboard, a server that never answers must not hold a script forever.
  let joinTimer: NodeJS.Timeout | undefined;
  if (!interactive)
    joinTimer = setTimeout(
      () => fatal(`Could not join within ${options.waitSeconds} s (--wait)`),
      options.waitSeconds * 1000,
    );
  join().then(
    () => {
      clearTimeout(joinTimer);
      if (done) return;
      if (interactive)
        screen.note(
          line(['Type a message and press Enter. Ctrl-D: send what is left and quit; Ctrl-C: quit', 'dim']),
        );
      screen.read({
        line: (text) => {
          if (text.trim() !== '' && !done) view?.input(text);
        },
        end: () => void drain(),
        interrupt: () => quit(view?.counts().pending ? 1 : 0),
      });
    },
    (err: unknown) => {
      clearTimeout(joinTimer);
      // A refused subscribe is the stream's `error`, which conversationEnded answers.
      if (ending !== undefined) return;
      const { conversation } = options;
      // Refused before the room was in: its own words (a link room asks for its code), not "gone".
      if (
        conversation.kind === 'createRoom' ||
        (conversation.kind === 'joinRoom' && createdId === undefined)
      ) {
        fatal(
          conversation.kind === 'createRoom'
            ? `Could not create the room: ${errorText(err, 'createRoom')}`
            : `Cannot join room ${conversation.conversationId}: ${errorText(err, 'joinRoom')}`,
        );
        return;
      }
      if (err instanceof ChatRequestError && (err.code === 'forbidden' || err.code === 'not_found')) {
        void conversationEnded({ kind: 'gone' });
        return;
      }
      fatal(
        conversation.kind === 'create'
          ? `Could not create the conversation: ${errorText(err, 'create')}`
          : `Cannot join conversation ${conversationIdOf()}: ${errorText(err, 'open')}`,
      );
    },
  );

  const code = await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  screen.close();
  chat.close();
  // Let the socket close with 1000 rather than vanish: the server runs $disconnect either way, sooner so.
  await Promise.race([
    Promise.all([...sockets].map((s) => new Promise((resolve) => s.once('close', resolve)))),
    new Promise((resolve) => setTimeout(resolve, 1000).unref()),
  ]);
  return code;
}
