/** The send rate moved to the conversations table's owner; this path stays for its importers. */
export { BucketHints, SEND_INTERVAL_MS, SEND_TOLERANCE_MS, takeSendToken } from './conversations/send-bucket';
