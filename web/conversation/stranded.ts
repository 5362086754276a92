/**
 * Unsent messages of a conversation that does not exist or that the user is not in: they can never be
 * delivered, yet they are what the user typed. The panel shows them to copy, and only the user's
 * Discard takes them out of the outbox.
 */
import type { ChatClient } from '../../client';
import { ui } from '../ui';

/**
 * Shows the outbox entries of `conversationId` to copy, with Copy and Discard (then `discarded` runs);
 * none: the panel stays hidden.
 */
export function showStranded(chat: ChatClient, conversationId: string, discarded: () => void): void {
  const entries = chat.outbox(conversationId);
  if (entries.length === 0) {
    hideStranded();
    return;
  }
  const count = entries.length === 1 ? 'Your unsent message' : `Your ${entries.length} unsent messages`;
  ui.strandedText.textContent = `${count} to it cannot be delivered. They are kept here until you discard them: copy them first to keep them.`;
  ui.strandedBodies.value = entries.map((entry) => entry.body).join('\n\n');
  ui.stranded.hidden = false;
  ui.strandedCopy.textContent = 'Copy';
  ui.strandedCopy.onclick = () => void copy();
  ui.strandedDiscard.onclick = async () => {
    // A failed entry is discarded; one still pending (offline, or not refused yet) is deleted before it goes.
    await Promise.all(
      chat
        .outbox(conversationId)
        .map((entry) =>
          entry.status === 'failed'
            ? chat.discard(entry.clientMessageId)
            : chat.delete(conversationId, entry.clientMessageId).catch(() => undefined),
        ),
    );
    hideStranded();
    discarded();
  };
}

export function hideStranded(): void {
  ui.stranded.hidden = true;
  ui.strandedBodies.value = '';
}

/** Copies the bodies; where the clipboard is refused, they are selected for the user's own Ctrl+C. */
async function copy(): Promise<void> {
  try {
    await navigator.clipboard.writeText(ui.strandedBodies.value);
    ui.strandedCopy.textContent = 'Copied';
  } catch {
    ui.strandedBodies.select();
    ui.strandedCopy.textContent = 'Selected: press Ctrl+C';
  }
}
