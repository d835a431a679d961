import type { DbClient } from '@ballast/db';
import { isAPIError } from 'better-auth/api';
import { AppError } from '../errors';
import type { Auth } from './better-auth';

/** Creates and removes sign-in accounts for setup and invitation acceptance. */
export interface AccountGateway {
  /** Creates the user with an email-and-password login and signs them in (cookies to forward). */
  createUser(input: { name: string; email: string; password: string }): Promise<{ userId: string; cookies: string[] }>;
  /** Undoes createUser when the step it was for turned out to be impossible. */
  deleteUser(userId: string): Promise<void>;
}

export function betterAuthAccounts(auth: Auth, prisma: DbClient): AccountGateway {
  return {
    async createUser(input) {
      try {
        const { headers, response } = await auth.api.signUpEmail({ body: input, returnHeaders: true });
        return { userId: response.user.id, cookies: headers.getSetCookie() };
      } catch (error) {
        // better-auth's messages ("Password too short", "User already exists…") are meant for users.
        if (isAPIError(error) && error.statusCode < 500) {
          throw new AppError(error.statusCode === 422 ? 'CONFLICT' : 'BAD_REQUEST', error.message);
        }
        throw error;
      }
    },
    async deleteUser(userId) {
      await prisma.user.deleteMany({ where: { id: userId } });
    },
  };
}
