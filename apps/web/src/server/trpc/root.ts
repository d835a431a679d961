import { createTRPCRouter } from './init';
import { hostRouter } from './routers/host';
import { systemRouter } from './routers/system';

export const appRouter = createTRPCRouter({
  host: hostRouter,
  system: systemRouter,
});

export type AppRouter = typeof appRouter;
