import { describe, expect, it } from 'vitest';
import { isLoopbackHostname, refuseForeignRequest, sameOrigin } from '../../local/loopback';

describe('isLoopbackHostname', () => {
  it.each([
    'localhost',
    'LOCALHOST',
    'localhost.',
    's3.localhost',
    'b.s3.localhost',
    '127.0.0.1',
    '127.1.2.3',
    '[::1]',
  ])('counts %s as loopback', (name) => {
    expect(isLoopbackHostname(name)).toBe(true);
  });

  it.each([
    'evil.example',
    'localhost.evil.example',
    '10.0.0.5',
    '0.0.0.0',
    '[::]',
    '127.0.0.1.evil.example',
    '',
  ])('does not count %s, even when it resolves to loopback today', (name) => {
    expect(isLoopbackHostname(name)).toBe(false);
  });
});

describe('refuseForeignRequest', () => {
  it('passes a tool on this machine, which sends no Origin', () => {
    expect(refuseForeignRequest({ host: '127.0.0.1:3002' })).toBeUndefined();
  });

  it('refuses a Host that is not a name of loopback, and a request with no Host', () => {
    expect(refuseForeignRequest({ host: 'evil.example:3002' })).toEqual({
      status: 403,
      message: 'Refused: the Host evil.example:3002 is not a name of this machine',
    });
    expect(refuseForeignRequest({})).toMatchObject({ status: 403 });
  });

  it('refuses any Origin by default, and one that is not the Host its page came from with sameOrigin', () => {
    // Prepare
    const fromPage = { host: 'localhost:3002', origin: 'http://localhost:3002' };

    // Act / Assess
    expect(refuseForeignRequest(fromPage)).toMatchObject({ status: 403 });
    expect(refuseForeignRequest(fromPage, sameOrigin)).toBeUndefined();
    expect(refuseForeignRequest({ ...fromPage, origin: 'http://127.0.0.1:3002' }, sameOrigin)).toMatchObject({
      status: 403,
    });
    expect(refuseForeignRequest({ ...fromPage, origin: 'null' }, sameOrigin)).toEqual({
      status: 403,
      message: 'Refused: requests from null are not accepted here',
    });
  });
});
