/**
 * The outbox: every message the app sends is kept, pending, until the server acknowledges it (G1), and
 * resent with the same clientMessageId until then (G3 makes that safe). Storage is pluggable, so a
 * page reload or a restarted process resumes the sends it had not finished.
 */
import { LIMITS } from '../shared/limits';
import { type Attachment, ChatRequestError, type SendAck } from './types';

export interface OutboxEntry {
  clientMessageId: string;
  conversationId: string;
  body: string;
  /** A file already uploaded (see `ChatClient.attach`) that the message carries. */
  attachment?: Attachment;
  /** Epoch ms when `send()` was called. */
  createdAt: number;
  status: 'pending' | 'failed';
  /** Why the server (or the SDK, for a body it can never accept) refused it. */
  error?: { code: string; message: string };
}

/** What the outbox reports: `pending` at once (and for each entry restored on start), then `sent` or `failed`. */
export type OutboxEvent =
  | { status: 'pending'; entry: OutboxEntry }
  | { status: 'sent'; entry: OutboxEntry; ack: SendAck }
  | { status: 'failed'; entry: OutboxEntry; error: ChatRequestError };

/** Where the outbox keeps its entries. Either method may be synchronous or return a promise. */
export interface OutboxStore {
  load(): OutboxEntry[] | Promise<OutboxEntry[]>;
  /** Replaces what is stored with `entries`; calls are made one at a time, in order. */
  save(entries: OutboxEntry[]): void | Promise<void>;
}

const copy = (entries: OutboxEntry[]) => entries.map((entry) => ({ ...entry }));

/** Keeps entries for the life of the process: survives reconnects and a new client, not a reload. */
export class MemoryOutboxStore implements OutboxStore {
  private entries: OutboxEntry[] = [];

  load(): OutboxEntry[] {
    return copy(this.entries);
  }

  save(entries: OutboxEntry[]): void {
    this.entries = copy(entries);
  }
}

/** The part of the Web Storage API the localStorage store uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

function isEntry(value: unknown): value is OutboxEntry {
  const entry = value as Partial<OutboxEntry> | null;
  return (
    typeof entry?.clientMessageId === 'string' &&
    typeof entry.conversationId === 'string' &&
    typeof entry.body === 'string' &&
    typeof entry.createdAt === 'number' &&
    (entry.status === 'pending' || entry.status === 'failed')
  );
}

/**
 * An outbox store in the browser's `localStorage` under `key`, so a reload loses no unsent message.
 * Use one key per signed-in user; two tabs sharing a key may each overwrite the other's entries.
 * @param storage defaults to `globalThis.localStorage`.
 */
export function localStorageOutboxStore(key = 'serverless-chat:outbox', storage?: StorageLike): OutboxStore {
  const target = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
  if (target === undefined) throw new Error('localStorage is not available here; pass a storage');
  return {
    load() {
      try {
        const parsed: unknown = JSON.parse(target.getItem(key) ?? '[]');
        return Array.isArray(parsed) ? parsed.filter(isEntry) : [];
      } catch {
        return []; // unreadable storage must not stop the app; there is nothing to resume
      }
    },
    save(entries) {
      target.setItem(key, JSON.stringify(entries));
    },
  };
}

/** The body checks the server makes, done before sending: a body that can never pass must not be resent. */
function bodyProblem(body: string): ChatRequestError | undefined {
  if (body === '' || body.isWellFormed?.() === false)
    return new ChatRequestError('invalid_request', 'The body must be non-empty, well-formed Unicode');
  if (new TextEncoder().encode(body).length > LIMITS.maxBodyBytes)
    return new ChatRequestError(
      'payload_too_large',
      `The body is over ${LIMITS.maxBodyBytes} bytes of UTF-8`,
    );
  return undefined;
}

/** What the outbox needs from the client. */
export interface OutboxHost {
  /** Sends until acked; rejects only with a permanent error or `closed`. */
  send(
    fields: Pick<OutboxEntry, 'conversationId' | 'clientMessageId' | 'body' | 'attachment'>,
  ): Promise<SendAck>;
  emit(event: OutboxEvent): void;
  /** A send was acked: its conversation's stream now knows that seq exists. */
  acked(ack: SendAck): void;
  report(error: unknown): void;
  now(): number;
  newId(): string;
}

interface Waiter {
  resolve(ack: SendAck): void;
  reject(error: ChatRequestError): void;
}

export class Outbox {
  private entries: OutboxEntry[] = [];
  /** Conversations with a send out: one at a time each, so a user's messages keep the order they were typed. */
  private readonly sending = new Set<string>();
  private readonly waiters = new Map<string, Waiter>();
  private loaded = false;
  private closed = false;
  /** Loading, then each save in turn: a save never overtakes the load or an earlier save. */
  private saving: Promise<unknown>;

  constructor(
    private readonly store: OutboxStore,
    private readonly host: OutboxHost,
  ) {
    this.saving = Promise.resolve()
      .then(() => store.load())
      .then(
        (restored) => {
          this.entries = [...restored, ...this.entries];
          for (const entry of restored) this.announce(entry);
        },
        (err: unknown) => host.report(err),
      )
      .finally(() => {
        this.loaded = true;
        this.pump();
      });
  }

  send(
    conversationId: string,
    body: string,
    attachment?: Attachment,
  ): { clientMessageId: string; acked: Promise<SendAck> } {
    const entry: OutboxEntry = {
      clientMessageId: this.host.newId(),
      conversationId,
      body,
      ...(attachment ? { attachment } : {}),
      createdAt: this.host.now(),
      status: 'pending',
    };
    this.entries.push(entry);
    const acked = this.waitFor(entry.clientMessageId);
    this.host.emit({ status: 'pending', entry });
    const problem = bodyProblem(body);
    if (problem) this.fail(entry, problem);
    else this.changed();
    return { clientMessageId: entry.clientMessageId, acked };
  }

  /** Sends a failed entry again, with the same clientMessageId. */
  retry(clientMessageId: string): Promise<SendAck> {
    const entry = this.entries.find((e) => e.clientMessageId === clientMessageId && e.status === 'failed');
    if (entry === undefined)
      return Promise.reject(new ChatRequestError('invalid_request', `No failed message ${clientMessageId}`));
    entry.status = 'pending';
    delete entry.error;
    const acked = this.waitFor(clientMessageId);
    this.host.emit({ status: 'pending', entry });
    this.changed();
    return acked;
  }

  /** Forgets a failed entry. Returns false when there is no failed entry with that id. */
  discard(clientMessageId: string): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.clientMessageId !== clientMessageId || e.status !== 'failed');
    this.changed();
    return this.entries.length < before;
  }

  /** The entries not yet acked (pending or failed), oldest first. */
  list(conversationId?: string): OutboxEntry[] {
    return copy(
      this.entries.filter((e) => conversationId === undefined || e.conversationId === conversationId),
    );
  }

  /** Stops sending; entries stay in the store for the next client. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiters.values())
      waiter.reject(new ChatRequestError('closed', 'The client is closed'));
    this.waiters.clear();
  }

  private announce(entry: OutboxEntry): void {
    if (entry.status === 'pending') this.host.emit({ status: 'pending', entry });
    else
      this.host.emit({
        status: 'failed',
        entry,
        error: new ChatRequestError(
          (entry.error?.code ?? 'internal_error') as ChatRequestError['code'],
          entry.error?.message ?? '',
        ),
      });
  }

  private waitFor(clientMessageId: string): Promise<SendAck> {
    const acked = new Promise<SendAck>((resolve, reject) =>
      this.waiters.set(clientMessageId, { resolve, reject }),
    );
    if (this.closed) this.close();
    // An app that follows the outbox events may never look at this promise; its rejection must not crash Node.
    acked.catch(() => {});
    return acked;
  }

  private settle(entry: OutboxEntry, outcome: { ack: SendAck } | { error: ChatRequestError }): void {
    const waiter = this.waiters.get(entry.clientMessageId);
    this.waiters.delete(entry.clientMessageId);
    if ('ack' in outcome) waiter?.resolve(outcome.ack);
    else waiter?.reject(outcome.error);
  }

  private fail(entry: OutboxEntry, error: ChatRequestError): void {
    entry.status = 'failed';
    entry.error = { code: error.code, message: error.message };
    this.changed();
    this.host.emit({ status: 'failed', entry, error });
    this.settle(entry, { error });
  }

  /** Persists the entries and starts whatever can be sent now. */
  private changed(): void {
    this.saving = this.saving
      .then(() => this.store.save(copy(this.entries)))
      .catch((err: unknown) => this.host.report(err));
    this.pump();
  }

  private pump(): void {
    if (!this.loaded || this.closed) return;
    for (const entry of this.entries) {
      if (entry.status !== 'pending' || this.sending.has(entry.conversationId)) continue;
      this.sending.add(entry.conversationId);
      void this.deliver(entry);
    }
  }

  private async deliver(entry: OutboxEntry): Promise<void> {
    const { conversationId, clientMessageId, body, attachment } = entry;
    try {
      const ack = await this.host.send({
        conversationId,
        clientMessageId,
        body,
        ...(attachment ? { attachment } : {}),
      });
      this.entries = this.entries.filter((e) => e !== entry);
      this.changed();
      this.host.acked(ack);
      this.host.emit({ status: 'sent', entry, ack });
      this.settle(entry, { ack });
    } catch (err: unknown) {
      const error =
        err instanceof ChatRequestError ? err : new ChatRequestError('internal_error', String(err));
      // `closed` is no verdict on the message: it stays pending in the store for the next client.
      if (error.code === 'closed') this.settle(entry, { error });
      else this.fail(entry, error);
    } finally {
      this.sending.delete(conversationId);
      this.pump();
    }
  }
}
