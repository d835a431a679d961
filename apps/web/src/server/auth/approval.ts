import { AppError } from '../errors';
import type { OrgCaller } from '../trpc/init';
import { roleAtLeast } from './roles';

/**
 * Approving a job needs the operator role and, when the organization enables the two-person
 * rule, someone other than its requester. A token counts as the user who created it, so a
 * requester cannot approve their own job through their automation either.
 */
export function assertCanApprove(
  ctx: Pick<OrgCaller, 'role' | 'actingUserId' | 'requireTwoPersonApproval'>,
  requesterUserId: string,
): void {
  if (!roleAtLeast(ctx.role, 'operator')) throw new AppError('FORBIDDEN', 'approving jobs needs the operator role');
  if (ctx.requireTwoPersonApproval && ctx.actingUserId === requesterUserId) {
    throw new AppError('FORBIDDEN', 'two-person rule: a job must be approved by someone other than its requester');
  }
}
