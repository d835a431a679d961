import type { ApiTokenScope, Role } from '@ballast/db';

export type { ApiTokenScope, Role };

/** Each role includes the rights of the ones before it. */
export const ROLES = ['viewer', 'operator', 'admin'] as const satisfies readonly Role[];

export function roleAtLeast(role: Role, minimum: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(minimum);
}

/** An API token acts with the role its scope names. */
export const SCOPE_ROLE: Record<ApiTokenScope, Role> = { read: 'viewer', operate: 'operator', admin: 'admin' };
