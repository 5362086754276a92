/** The route table of the send function: `send`, `edit` and `delete` (./send.ts, ./edit.ts). */
import { AdmissionGate } from '../../shared/admission';
import {
  type ActionHandler,
  createActionHandler,
  type FunctionKitDeps,
  routeKitOf,
} from '../../shared/route-kit';
import { BucketHints } from '../../shared/store/conversations';
import { MIN_SEND_BUDGET_MS, type SendDeps } from './deps';
import { deleteMessage, editMessage } from './edit';
import { sendMessage } from './send';

/**
 * Sends in progress at once in one execution environment, and how long one may wait for a place before
 * it is answered `busy` (shared/admission.ts). On Lambda one invocation runs per environment, so only
 * the local runtime, where every invocation shares a process, ever waits.
 */
export const SEND_ADMISSION = { maxInFlight: 40, maxWaitMs: 2_500 } as const;

/** What the send function's handler is built from: its operations' deps, and the route kit's. */
export type SendHandlerDeps = SendDeps & FunctionKitDeps & { admission?: AdmissionGate };

/**
 * Builds the Lambda handler of the `send`, `edit` and `delete` routes (./edit.ts) from its
 * dependencies; `handler.ts` passes real clients, tests pass mocked ones.
 */
export function createSendHandler(deps: SendHandlerDeps): ActionHandler {
  const admission = deps.admission ?? new AdmissionGate({ maxInFlight: SEND_ADMISSION.maxInFlight });
  const sendDeps: SendDeps = { ...deps, bucketHints: deps.bucketHints ?? new BucketHints() };
  return createActionHandler(
    routeKitOf(deps),
    {
      send: async (frame, caller) => {
        const budget = caller.deadline - deps.now().getTime() - MIN_SEND_BUDGET_MS;
        const release = await admission.enter(Math.min(SEND_ADMISSION.maxWaitMs, budget));
        try {
          // Charged once admitted: a send answered `busy` at the gate costs no request.
          await caller.charge?.();
          return await sendMessage(sendDeps, frame, caller);
        } finally {
          release();
        }
      },
      // Three requests each and no reservation, so they skip the admission gate.
      edit: (frame, caller) => editMessage(sendDeps, frame, caller),
      delete: (frame, caller) => deleteMessage(sendDeps, frame, caller),
    },
    { chargedByRoute: ['send'] },
  );
}
