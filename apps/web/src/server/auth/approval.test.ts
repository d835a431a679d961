import { describe, expect, it } from 'vitest';
import { AppError } from '../errors';
import { assertCanApprove } from './approval';

const caller = (role: 'viewer' | 'operator' | 'admin', actingUserId: string, requireTwoPersonApproval: boolean) => ({
  role,
  actingUserId,
  requireTwoPersonApproval,
});

describe('assertCanApprove', () => {
  it('lets operators and admins approve anyone’s job when the two-person rule is off', () => {
    expect(() => assertCanApprove(caller('operator', 'usr_a', false), 'usr_a')).not.toThrow();
    expect(() => assertCanApprove(caller('admin', 'usr_a', false), 'usr_b')).not.toThrow();
  });

  it('refuses viewers whatever the rule', () => {
    expect(() => assertCanApprove(caller('viewer', 'usr_a', false), 'usr_b')).toThrow(AppError);
  });

  it('refuses the requester, even an admin, when the two-person rule is on', () => {
    for (const role of ['operator', 'admin'] as const) {
      let error: unknown;
      try {
        assertCanApprove(caller(role, 'usr_a', true), 'usr_a');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/two-person/) });
    }
  });

  it('lets someone else approve when the two-person rule is on', () => {
    expect(() => assertCanApprove(caller('operator', 'usr_b', true), 'usr_a')).not.toThrow();
  });
});
