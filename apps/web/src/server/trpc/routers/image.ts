import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { duplicateLayersAcrossFleet, imageWasteAcrossFleet, ZContentFleetInput } from '../../services/content';
import { imagesAcrossFleet, ZImageFleetInput } from '../../services/fleet';
import { orgProcedure } from '../init';

export const imageRouter = {
  fleet: orgProcedure('viewer')
    .input(ZImageFleetInput)
    .query(({ ctx, input }) => imagesAcrossFleet(ctx.prisma, ctx.orgId, input)),

  /** Layer content stored under several layer IDs, grouped across hosts. */
  duplicateLayers: orgProcedure('viewer')
    .input(ZContentFleetInput)
    .query(({ ctx, input }) => duplicateLayersAcrossFleet(ctx.prisma, ctx.orgId, input)),

  /** Bytes inside images that their upper layers overwrite or delete, per image ID across hosts. */
  waste: orgProcedure('viewer')
    .input(z.object({ imageIds: z.array(z.string().min(1).max(80)).max(500).optional() }).default({}))
    .query(({ ctx, input }) => imageWasteAcrossFleet(ctx.prisma, ctx.orgId, input.imageIds ?? null)),
} satisfies TRPCRouterRecord;
