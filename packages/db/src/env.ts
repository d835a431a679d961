import { z } from 'zod';

const ZEnv = z.object({
  // An empty DATABASE_URL (e.g. `DATABASE_URL= cmd`) counts as unset.
  DATABASE_URL: z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
});

const parsed = ZEnv.safeParse(process.env);
if (!parsed.success) throw new Error(`Invalid environment:\n${z.prettifyError(parsed.error)}`);

export const env = parsed.data;
