/**
 * What the outbox keeps and where: its entries, and the stores that hold them across reconnects
 * (MemoryOutboxStore) and page reloads (localStorageOutboxStore).
 */
import type { Attachment, AttachmentContentType } from './types';
import type { FileData } from './uploads';

export interface OutboxEntry {
  clientMessageId: string;
  conversationId: string;
  body: string;
  /** The uploaded file the message carries: given to `send`, or set once a `file` is confirmed. */
  attachment?: Attachment;
  /** The file the message carries, described from the moment it is typed (before its upload). */
  file?: { contentType: AttachmentContentType; size: number; name?: string };
  /** True while `file` is uploading: the message waits (and later ones of its conversation behind it). */
  uploading?: boolean;
  /**
   * The file's bytes, kept while `uploading`. A store that keeps them (MemoryOutboxStore) lets a new
   * client resume the upload; localStorageOutboxStore cannot, so such an entry comes back `failed`.
   */
  data?: FileData;
  /** Epoch ms when `send()` was called. */
  createdAt: number;
  status: 'pending' | 'failed';
  /** Why the server (or the SDK, for a body it can never accept or a file it could not upload) refused it. */
  error?: { code: string; message: string };
}

/** Where the outbox keeps its entries. Either method may be synchronous or return a promise. */
export interface OutboxStore {
  load(): OutboxEntry[] | Promise<OutboxEntry[]>;
  /** Replaces what is stored with `entries`; calls are made one at a time, in order. */
  save(entries: OutboxEntry[]): void | Promise<void>;
}

/** Copies of `entries`, so a store or a caller never holds the outbox's own objects. */
export const copy = (entries: OutboxEntry[]): OutboxEntry[] => entries.map((entry) => ({ ...entry }));

/** Keeps entries (a file's bytes too) for the life of the process: survives reconnects and a new client, not a reload. */
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
 * A file's bytes are not kept (text only): a message whose upload had not finished comes back `failed`.
 * @param storage defaults to `globalThis.localStorage`.
 */
export function localStorageOutboxStore(key = 'serverless-chat:outbox', storage?: StorageLike): OutboxStore {
  const target = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
  if (target === undefined) throw new Error('No localStorage: pass a storage');
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
      target.setItem(key, JSON.stringify(entries.map(({ data: _bytes, ...entry }) => entry)));
    },
  };
}
