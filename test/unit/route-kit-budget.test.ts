/**
 * The per-user frame budgets in the route kit (shared/route-kit/budget.ts): every action's frame takes
 * one token of its cost class from the action table before its route runs; over budget it is refused
 * `rate_limited` with `retryAfterMs` and its route never runs.
 */
import { describe, expect, it, vi } from 'vitest';
import { RateLimitedError } from '../../shared/errors';
import { ACTIONS } from '../../shared/protocol';
import { createActionHandler } from '../../shared/route-kit';
import { routeEvent } from '../support/api-gateway';
import { routeKitDeps } from '../support/route-kit';

const replyOf = (result: { body?: string }) => JSON.parse(result.body ?? '{}') as Record<string, unknown>;

describe('per-user budgets in the route kit', () => {
  it.each([
    ['ping', 'free'],
    ['typing', 'cheap'],
    ['history', 'read'],
    ['listConversations', 'read'],
    ['send', 'write'],
    ['read', 'write'],
    ['createConversation', 'admin'],
    ['uploadUrl', 'admin'],
  ] as const)('declares %s as a %s action in the action table', (action, costClass) => {
    expect(ACTIONS[action].cost).toBe(costClass);
  });

  it("charges a frame to its user's budget of its action's cost class before its route runs", async () => {
    // Prepare
    const userBudget = vi.fn(async () => {});
    const route = vi.fn(async () => ({ conversationId: 'c-1' }));
    const handle = createActionHandler(routeKitDeps({ userBudget }), { unsubscribe: route });

    // Act
    await handle(
      routeEvent({
        body: { action: 'unsubscribe', conversationId: 'c-1', requestId: 'r1' },
        authorizer: { principalId: 'alice', userId: 'alice' },
      }),
    );

    // Assess
    expect(userBudget).toHaveBeenCalledWith('alice', 'read', expect.any(AbortSignal));
    expect(userBudget.mock.invocationCallOrder[0]).toBeLessThan(route.mock.invocationCallOrder[0] ?? 0);
  });

  it('refuses a frame over budget with rate_limited and retryAfterMs, without running its route', async () => {
    // Prepare
    const userBudget = vi.fn(async () => {
      throw new RateLimitedError('At most 30 read requests a second (bursts of 300) per user', 700);
    });
    const route = vi.fn(async () => ({ conversationId: 'c-1' }));
    const deps = routeKitDeps({ userBudget });
    const handle = createActionHandler(deps, { unsubscribe: route });

    // Act
    const reply = replyOf(
      await handle(routeEvent({ body: { action: 'unsubscribe', conversationId: 'c-1', requestId: 'r1' } })),
    );

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'rate_limited', retryAfterMs: 700, requestId: 'r1' });
    expect(route).not.toHaveBeenCalled();
    expect(deps.sink.recorded).toContain('rateLimited');
  });

  it('leaves the charge to a route named in chargedByRoute, and charges a frame once however often it asks', async () => {
    // Prepare
    const userBudget = vi.fn(async () => {});
    let chargedBeforeRoute = -1;
    const handle = createActionHandler(
      routeKitDeps({ userBudget }),
      {
        unsubscribe: async (frame, caller) => {
          chargedBeforeRoute = userBudget.mock.calls.length;
          await caller.charge?.();
          await caller.charge?.();
          return { conversationId: frame.conversationId };
        },
      },
      { chargedByRoute: ['unsubscribe'] },
    );

    // Act
    await handle(routeEvent({ body: { action: 'unsubscribe', conversationId: 'c-1', requestId: 'r1' } }));

    // Assess
    expect(chargedBeforeRoute).toBe(0);
    expect(userBudget).toHaveBeenCalledTimes(1);
  });

  it('charges nothing for ping, which makes no AWS call', async () => {
    // Prepare
    const userBudget = vi.fn(async () => {});
    const handle = createActionHandler(routeKitDeps({ userBudget }), { ping: async () => ({}) });

    // Act
    const reply = replyOf(await handle(routeEvent({ body: { action: 'ping', requestId: 'p' } })));

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'ping' });
    expect(ACTIONS.ping.cost).toBe('free');
    expect(userBudget).not.toHaveBeenCalled();
  });
});
