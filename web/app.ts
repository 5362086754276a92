/**
 * The web chat page, on the client SDK: sign in as a dev user, the conversation list, one open
 * conversation with its messages in seq order, the outbox's pending and failed messages under them,
 * and the connection's state. Served with its bundle by the local runtime's control plane, which also
 * answers /config.json (the WebSocket URL) and /token?user= (a dev token).
 */
import { ConnectionStatus } from './connection-status';
import { showMembersPanel } from './conversation/members';
import { DevTokens } from './dev-tokens';
import { inWords, type PageAction } from './messages-in-words';
import { offlineAwareWebSocket } from './network';
import { forgetRoomLink, parseRoomInput, type RoomTarget, roomOfLink } from './room-link';
import { Session } from './session';
import { ui } from './ui';

/** What the control plane's /config.json says. */
interface PageConfig {
  webSocketUrl: string;
}

/** The signed-in user of this tab, so a reload resumes the session (and sends its outbox). */
const SESSION_USER_KEY = 'serverless-chat:user';

/** User ids typed in a field, comma- or space-separated: each once, `me` left out. */
const userIdList = (text: string, me: string): string[] => [
  ...new Set(text.split(/[\s,]+/).filter((userId) => userId !== '' && userId !== me)),
];

/** Starts the page: its config, the controls, and the session this tab had before a reload. */
async function main(): Promise<void> {
  const config = (await (await fetch('/config.json', { cache: 'no-store' })).json()) as PageConfig;
  const WebSocket = offlineAwareWebSocket();
  const status = new ConnectionStatus();
  let session: Session | undefined;
  /** A room link this page was opened with: joined once someone is signed in. */
  let linkedRoom = roomOfLink(new URLSearchParams(location.search));

  const signIn = async (userId: string): Promise<void> => {
    ui.signInError.textContent = '';
    ui.signInButton.disabled = true;
    try {
      const tokens = new DevTokens(userId);
      await tokens.get(); // a refused user id is reported here, not as an endless reconnect
      sessionStorage.setItem(SESSION_USER_KEY, userId);
      ui.whoName.textContent = userId;
      ui.who.hidden = false;
      ui.signInScreen.hidden = true;
      ui.chatScreen.hidden = false;
      ui.sessionEnded.hidden = true;
      session = new Session(userId, tokens, config.webSocketUrl, WebSocket, status, () => {
        ui.sessionEnded.hidden = false;
      });
      if (linkedRoom) {
        joinRoom(session, linkedRoom);
        linkedRoom = undefined;
        forgetRoomLink();
      }
    } catch (err: unknown) {
      ui.signInError.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      ui.signInButton.disabled = false;
    }
  };

  const signOut = (): void => {
    session?.signOut();
    session = undefined;
    // A draft is the signed-out user's too.
    ui.messageInput.value = '';
    sessionStorage.removeItem(SESSION_USER_KEY);
    status.signedOut();
    ui.sessionEnded.hidden = true;
    ui.who.hidden = true;
    ui.chatScreen.hidden = true;
    ui.signInScreen.hidden = false;
    ui.noConversation.hidden = false;
    ui.conversationPane.hidden = true;
    ui.conversationList.replaceChildren();
    document.body.dataset.view = 'list';
  };

  // The server kept refusing this session's tokens: signing in again keeps the unsent messages.
  ui.signInAgain.addEventListener('click', () => {
    const again = session;
    if (again === undefined) return;
    again.end();
    session = undefined;
    void signIn(again.userId);
  });

  wireSignIn(signIn, signOut);
  wireSidebar(() => session);
  wireRooms(() => session);
  wireConversation(() => session);

  const userId = new URLSearchParams(location.search).get('user') ?? sessionStorage.getItem(SESSION_USER_KEY);
  if (userId) {
    ui.userId.value = userId;
    await signIn(userId);
  } else ui.userId.focus();
}

/**
 * Runs a sidebar form's request with its button disabled meanwhile: the form is emptied when it is done,
 * and a refusal is said in words on the form's error line.
 */
function submit(
  form: HTMLFormElement,
  button: HTMLButtonElement,
  errorLine: HTMLElement,
  action: PageAction,
  run: () => Promise<void>,
): void {
  errorLine.textContent = '';
  button.disabled = true;
  run()
    .then(() => form.reset())
    .catch((err: unknown) => {
      errorLine.textContent = inWords(err, action);
    })
    .finally(() => {
      button.disabled = false;
    });
}

/** The sign-in form and the Sign out button. */
function wireSignIn(signIn: (userId: string) => Promise<void>, signOut: () => void): void {
  ui.signInForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const userId = ui.userId.value.trim();
    if (userId) void signIn(userId);
  });

  ui.signOut.addEventListener('click', signOut);
}

/** The sidebar: the conversation list and its Refresh, and the forms that create or open a conversation. */
function wireSidebar(current: () => Session | undefined): void {
  ui.conversationList.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const item = target?.closest<HTMLButtonElement>('button[data-conversation-id]');
    if (item?.dataset.conversationId) current()?.open(item.dataset.conversationId);
  });

  ui.createForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const session = current();
    if (!session) return;
    const members = userIdList(ui.createMembers.value, session.userId);
    const title = ui.createTitle.value.trim() || undefined;
    submit(ui.createForm, ui.createButton, ui.createError, 'create', () => session.create(members, title));
  });

  ui.directForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const other = ui.directUser.value.trim();
    const session = current();
    if (!session || !other) return;
    submit(ui.directForm, ui.directButton, ui.directError, 'direct', () => session.openDirect(other));
  });

  ui.openForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const conversationId = ui.openId.value.trim();
    const session = current();
    if (!session || !conversationId) return;
    session.open(conversationId);
    ui.openForm.reset();
  });

  ui.refreshList.addEventListener('click', () => void current()?.refreshList());
  // Pushes that name the user (added, removed) are best effort: coming back to the tab is when to look again.
  window.addEventListener('focus', () => void current()?.refreshList());
}

/** Joins a room (from its link or the join field) and opens it; a refusal is said under the join field. */
function joinRoom(session: Session, target: RoomTarget): Promise<void> {
  ui.roomJoinError.textContent = '';
  return session.joinRoom(target).catch((err: unknown) => {
    ui.roomJoinError.textContent = inWords(err, 'joinRoom');
  });
}

/** The sidebar's Rooms section: create a room, join one by its id or its link. */
function wireRooms(current: () => Session | undefined): void {
  ui.roomCreateForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const session = current();
    const title = ui.roomTitle.value.trim();
    if (!session || !title) return;
    const access = ui.roomAccess.value === 'link' ? 'link' : 'public';
    const slowModeSeconds = Number(ui.roomSlowMode.value) || 0;
    submit(ui.roomCreateForm, ui.roomCreateButton, ui.roomCreateError, 'createRoom', () =>
      session.createRoom(title, access, slowModeSeconds),
    );
  });

  ui.roomJoinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const session = current();
    if (!session) return;
    const target = parseRoomInput(ui.roomJoin.value);
    if (target === undefined) {
      ui.roomJoinError.textContent = 'That is not a room id or a room link.';
      return;
    }
    ui.roomJoinButton.disabled = true;
    void joinRoom(session, target).then(() => {
      ui.roomJoinButton.disabled = false;
      if (ui.roomJoinError.textContent === '') ui.roomJoinForm.reset();
    });
  });
}

/** The open conversation's controls: the composer, Load older, Attach, Leave, Members, and Back on a phone. */
function wireConversation(current: () => Session | undefined): void {
  ui.sendForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = ui.messageInput.value;
    if (body.trim() === '') return;
    current()?.send(body);
    ui.messageInput.value = '';
  });

  ui.messageInput.addEventListener('input', () => current()?.typed());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') current()?.visible();
  });

  ui.messageInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.sendForm.requestSubmit();
    }
  });

  ui.loadOlder.addEventListener('click', () => current()?.loadOlder());
  ui.attachInput.addEventListener('change', () => {
    const file = ui.attachInput.files?.[0];
    ui.attachInput.value = '';
    if (file) current()?.attach(file);
  });
  ui.leave.addEventListener('click', () => void current()?.leave());
  ui.blockDirect.addEventListener('click', () => void current()?.blockDirect());
  ui.membersToggle.addEventListener('click', () =>
    showMembersPanel(ui.membersToggle.ariaExpanded !== 'true'),
  );
  ui.addMembersForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const session = current();
    if (!session) return;
    const userIds = userIdList(ui.addMembers.value, session.userId);
    if (userIds.length === 0) return;
    ui.addMembersButton.disabled = true;
    session
      .addMembers(userIds)
      .then((accepted) => {
        if (accepted) ui.addMembersForm.reset();
      })
      .finally(() => {
        ui.addMembersButton.disabled = false;
      });
  });
  ui.back.addEventListener('click', () => {
    document.body.dataset.view = 'list';
  });
}

main().catch((err: unknown) => {
  ui.signInError.textContent = `The page could not start: ${String(err)}`;
});
