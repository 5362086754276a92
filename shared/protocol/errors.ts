/** The frame that answers a refused request. */
import type { ErrorCode } from '../errors';

export interface ErrorFrame {
  type: 'error';
  requestId?: string;
  code: ErrorCode;
  message: string;
  retryable: boolean;
  /** With retryable errors that ask for a pause: wait this long before resending. */
  retryAfterMs?: number;
}
