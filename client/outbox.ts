/**
 * The outbox: every message the app sends is kept, pending, until the server acknowledges it (G1), and
 * resent with the same clientMessageId until then (G3 makes that safe). A message with a file takes its
 * place when it is typed and uploads there, so the messages after it wait and are stored after it.
 * Storage is pluggable (./outbox-store.ts), so a page reload or a restarted process resumes the sends
 * it had not finished.
 */
import { CLIENT_LIMITS } from '../shared/client-limits';
import { copy, type OutboxEntry, type OutboxStore } from './outbox-store';
import { type OutboxChange, type PendingSend, pendingSend, type SentAck } from './pending-send';
import { type Attachment, type ChatMessage, ChatRequestError, type SendAck } from './types';
import { type FileToSend, sizeOf, type UploadHost, upload } from './uploads';

export {
  localStorageOutboxStore,
  MemoryOutboxStore,
  type OutboxEntry,
  type OutboxStore,
  type StorageLike,
} from './outbox-store';

/**
 * What the outbox reports: `pending` at once (and for each entry restored on start; again when a
 * file's upload is confirmed or a pending message is edited), then `sent` or `failed`.
 */
export type OutboxEvent =
  | { status: 'pending'; entry: OutboxEntry }
  | { status: 'sent'; entry: OutboxEntry; ack: SendAck }
  | { status: 'failed'; entry: OutboxEntry; error: ChatRequestError };

/** Why a restored message whose file had not finished uploading cannot be sent. */
export const NOT_UPLOADED = 'The file was not uploaded before the app closed; attach it again';

/** How many clientMessageId → seq of acked sends are remembered, so `edit`/`delete` by id still work. */
const REMEMBERED_ACKS = 500;

/** The body checks the server makes, done before sending: a body that can never pass must not be resent. */
function bodyProblem(body: string): ChatRequestError | undefined {
  if (body === '' || body.isWellFormed?.() === false)
    return new ChatRequestError('invalid_request', 'The body must be non-empty, well-formed Unicode');
  if (new TextEncoder().encode(body).length > CLIENT_LIMITS.maxBodyBytes)
    return new ChatRequestError(
      'payload_too_large',
      `The body is over ${CLIENT_LIMITS.maxBodyBytes} bytes of UTF-8`,
    );
  return undefined;
}

/** What the outbox needs from the client. */
export interface OutboxHost {
  /** Sends until acked; rejects only with a permanent error or `closed`. */
  send(
    fields: Pick<OutboxEntry, 'conversationId' | 'clientMessageId' | 'body' | 'attachment'>,
  ): Promise<SendAck>;
  /** What uploading a file asks for (`uploadUrl`, `confirmUpload`, the POST). */
  uploads: UploadHost;
  emit(event: OutboxEvent): void;
  /**
   * A send was acked: its message, for its conversation's stream (this connection is not pushed it).
   * `duplicate`: an earlier attempt stored it, so it may have been edited or deleted since.
   */
  acked(message: ChatMessage, duplicate: boolean): void;
  report(error: unknown): void;
  now(): number;
  newId(): string;
}

interface Waiter {
  resolve(ack: SentAck): void;
  reject(error: ChatRequestError): void;
}

export class Outbox {
  private entries: OutboxEntry[] = [];
  /** Conversations with a send out: one at a time each, so a user's messages keep the order they were typed. */
  private readonly sending = new Set<string>();
  private readonly waiters = new Map<string, Waiter>();
  /** The sends on the wire by `conversationId clientMessageId`: each resolves with its ack, or undefined when not acked. */
  private readonly onWire = new Map<string, Promise<SentAck | undefined>>();
  /** `conversationId clientMessageId` → seq of recent acked sends, oldest first. */
  private readonly ackedSeqs = new Map<string, number>();
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
          // Without its bytes (a store that keeps text only) an unfinished upload cannot resume.
          for (const entry of restored)
            if (entry.uploading && entry.data === undefined && entry.status === 'pending') {
              entry.status = 'failed';
              entry.error = { code: 'invalid_request', message: NOT_UPLOADED };
            }
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
    carried: { attachment?: Attachment; file?: FileToSend } = {},
  ): PendingSend {
    const { attachment, file } = carried;
    const entry: OutboxEntry = {
      clientMessageId: this.host.newId(),
      conversationId,
      // A file needs no words: its name (or type) says what it is.
      body: body === '' && file ? (file.name ?? file.contentType) : body,
      ...(attachment ? { attachment } : {}),
      ...(file
        ? {
            file: {
              contentType: file.contentType,
              size: sizeOf(file.data),
              ...(file.name === undefined ? {} : { name: file.name }),
            },
            uploading: true,
            data: file.data,
          }
        : {}),
      createdAt: this.host.now(),
      status: 'pending',
    };
    this.entries.push(entry);
    const acked = pendingSend(entry.clientMessageId, this.waitFor(entry.clientMessageId));
    this.host.emit({ status: 'pending', entry });
    const problem = bodyProblem(entry.body);
    if (problem) this.fail(entry, problem);
    else this.changed();
    return acked;
  }

  /** Sends a failed entry again, with the same clientMessageId (uploading its file first if it was not). */
  retry(clientMessageId: string): Promise<SentAck> {
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

  /**
   * Edits (`body`) or deletes (`undefined`) the message sent as `clientMessageId` (a seq is answered
   * as it is). Not on the server
   * yet (pending, uploading, or failed), the outbox entry changes and an {@link OutboxChange} is
   * answered; a deleted entry's PendingSend rejects `cancelled`. On the wire, it waits for the ack. Once
   * acked (now or recently), it answers the seq, for the caller to change by seq.
   */
  async change(
    conversationId: string,
    seqOrClientMessageId: number | string,
    body: string | undefined,
  ): Promise<number | OutboxChange> {
    if (typeof seqOrClientMessageId === 'number') return seqOrClientMessageId;
    const clientMessageId = seqOrClientMessageId;
    const problem = body === undefined ? undefined : bodyProblem(body);
    if (problem) throw problem;
    const key = `${conversationId} ${clientMessageId}`;
    const wire = this.onWire.get(key);
    if (wire) {
      await wire;
      return this.change(conversationId, clientMessageId, body);
    }
    const seq = this.ackedSeqs.get(key);
    if (seq !== undefined) return seq;
    const entry = this.entries.find(
      (e) => e.clientMessageId === clientMessageId && e.conversationId === conversationId,
    );
    if (entry === undefined)
      throw new ChatRequestError(
        'invalid_request',
        `No message ${clientMessageId} in conversation ${conversationId} to change`,
      );
    if (body === undefined) {
      this.entries = this.entries.filter((e) => e !== entry);
      this.settle(entry, {
        error: new ChatRequestError('cancelled', 'The message was deleted before it was sent'),
      });
    } else {
      entry.body = body;
      this.announce(entry);
    }
    this.changed();
    return { conversationId, clientMessageId, inOutbox: true };
  }

  /** The entries not yet acked (pending or failed), oldest first; a file's bytes are left out. */
  list(conversationId?: string): OutboxEntry[] {
    return this.entries
      .filter((e) => conversationId === undefined || e.conversationId === conversationId)
      .map(({ data: _bytes, ...entry }) => entry);
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

  private waitFor(clientMessageId: string): Promise<SentAck> {
    const acked = new Promise<SentAck>((resolve, reject) =>
      this.waiters.set(clientMessageId, { resolve, reject }),
    );
    if (this.closed) this.close();
    // An app that follows the outbox events may never look at this promise; its rejection must not crash Node.
    acked.catch(() => {});
    return acked;
  }

  private settle(entry: OutboxEntry, outcome: { ack: SentAck } | { error: ChatRequestError }): void {
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

  /** Uploads the entry's file if it has one still to upload, then sends it; holds its conversation's turn. */
  private async deliver(entry: OutboxEntry): Promise<void> {
    const { conversationId, clientMessageId } = entry;
    const key = `${conversationId} ${clientMessageId}`;
    let released: (ack?: SentAck) => void = () => {};
    const wire = new Promise<SentAck | undefined>((resolve) => {
      released = resolve;
    });
    try {
      if (entry.uploading) {
        const { file, data } = entry;
        if (file === undefined || data === undefined)
          throw new ChatRequestError('invalid_request', NOT_UPLOADED);
        entry.attachment = await upload(this.host.uploads, conversationId, { ...file, data });
        if (!this.entries.includes(entry)) return; // deleted while its file uploaded
        delete entry.uploading;
        delete entry.data;
        this.changed();
        this.host.emit({ status: 'pending', entry });
      }
      this.onWire.set(key, wire);
      const { body, attachment } = entry;
      const ack = await this.host.send({
        conversationId,
        clientMessageId,
        body,
        ...(attachment ? { attachment } : {}),
      });
      this.remember(key, ack.seq);
      this.entries = this.entries.filter((e) => e !== entry);
      this.changed();
      const sent = attachment ? { ...ack, attachment } : ack;
      // With the body, the ack is the message as others are pushed it.
      this.host.acked({ ...sent, body }, ack.duplicate);
      this.host.emit({ status: 'sent', entry, ack });
      this.settle(entry, { ack: sent });
      released(sent);
    } catch (err: unknown) {
      const error =
        err instanceof ChatRequestError ? err : new ChatRequestError('internal_error', String(err));
      // `closed` is no verdict on the message: it stays pending in the store for the next client.
      if (error.code === 'closed') this.settle(entry, { error });
      else if (this.entries.includes(entry)) this.fail(entry, error);
    } finally {
      this.onWire.delete(key);
      released();
      this.sending.delete(conversationId);
      this.pump();
    }
  }

  private remember(key: string, seq: number): void {
    this.ackedSeqs.set(key, seq);
    for (const oldest of this.ackedSeqs.keys()) {
      if (this.ackedSeqs.size <= REMEMBERED_ACKS) break;
      this.ackedSeqs.delete(oldest);
    }
  }
}
