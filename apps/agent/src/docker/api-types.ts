import * as z from '@ballast/shared/zod';

/*
 * The parts of Engine API responses the agent reads. Docker encodes empty slices and maps
 * as `null` and omits zero-valued `omitempty` fields (`SizeRw`), so absent and null both
 * normalise to empty values here. Unknown keys are dropped.
 */

/** Docker's `null` or an absent field, read as what `fallback` returns. */
function orElse<T extends z.ZodMiniType>(schema: T, fallback: () => z.output<T>) {
  return z.pipe(
    z.nullish(schema),
    z.transform((v: z.output<T> | null | undefined) => v ?? fallback()),
  );
}

const strings = orElse(z.array(z.string()), () => []);
const stringMap = orElse(z.record(z.string(), z.string()), () => ({}));

export const ZEngineVersion = z.object({
  Version: z.string(),
  ApiVersion: z.string(),
  MinAPIVersion: z.nullish(z.string()),
  Os: z.nullish(z.string()),
  KernelVersion: z.nullish(z.string()),
});
export type EngineVersion = z.infer<typeof ZEngineVersion>;

export const ZEngineInfo = z.object({
  Driver: z.string(),
  DriverStatus: orElse(z.array(z.array(z.string())), () => []),
  DockerRootDir: z.string(),
  /** The engine's own ID; remediation plans are bound to it. */
  ID: z.nullish(z.string()),
  LoggingDriver: z.nullish(z.string()),
  OperatingSystem: z.nullish(z.string()),
  KernelVersion: z.nullish(z.string()),
});
export type EngineInfo = z.infer<typeof ZEngineInfo>;

export const ZImageSummary = z.object({
  Id: z.string(),
  ParentId: orElse(z.string(), () => ''),
  RepoTags: strings,
  RepoDigests: strings,
  Created: z.number(),
  Labels: stringMap,
  Size: z.number(),
});
export type ImageSummary = z.infer<typeof ZImageSummary>;
export const ZImageList = z.array(ZImageSummary);

export const ZImageInspect = z.object({
  Id: z.string(),
  Parent: orElse(z.string(), () => ''),
  RootFS: orElse(z.object({ Type: z.nullish(z.string()), Layers: strings }), () => ({ Type: null, Layers: [] })),
});
export type ImageInspect = z.infer<typeof ZImageInspect>;

export const ZImageHistory = z.array(
  z.object({
    Id: z.string(),
    CreatedBy: orElse(z.string(), () => ''),
    Size: z.number(),
  }),
);
export type ImageHistory = z.infer<typeof ZImageHistory>;

export const ZContainerSummary = z.object({
  Id: z.string(),
  Names: strings,
  Image: z.string(),
  ImageID: z.string(),
  State: z.string(),
  Created: z.number(),
  Labels: stringMap,
});
export type ContainerSummary = z.infer<typeof ZContainerSummary>;
export const ZContainerList = z.array(ZContainerSummary);

export const ZContainerInspect = z.object({
  Id: z.string(),
  Name: z.string(),
  Created: z.nullish(z.string()),
  Image: z.string(),
  State: z.object({
    Status: z.string(),
    StartedAt: z.nullish(z.string()),
    FinishedAt: z.nullish(z.string()),
  }),
  LogPath: orElse(z.string(), () => ''),
  HostConfig: orElse(
    z.object({
      LogConfig: orElse(z.object({ Type: z.nullish(z.string()), Config: stringMap }), () => ({
        Type: null,
        Config: {},
      })),
    }),
    () => ({ LogConfig: { Type: null, Config: {} } }),
  ),
  GraphDriver: orElse(z.object({ Name: z.nullish(z.string()), Data: stringMap }), () => ({ Name: null, Data: {} })),
  Mounts: orElse(
    z.array(
      z.object({
        Type: z.nullish(z.string()),
        Name: z.nullish(z.string()),
        Source: z.nullish(z.string()),
        Destination: z.nullish(z.string()),
      }),
    ),
    () => [],
  ),
});
export type ContainerInspect = z.infer<typeof ZContainerInspect>;

export const ZVolumeList = z.object({
  Volumes: orElse(
    z.array(
      z.object({
        Name: z.string(),
        Driver: z.string(),
        Mountpoint: z.string(),
        Labels: stringMap,
        Options: stringMap,
        Scope: z.nullish(z.string()),
      }),
    ),
    () => [],
  ),
});
export type VolumeSummary = z.infer<typeof ZVolumeList>['Volumes'][number];

export const ZBuildCacheRecord = z.object({
  ID: z.string(),
  /** `Parent` (API < 1.42) and `Parents` (1.42+) merged: records this one builds on. */
  Parent: z.nullish(z.string()),
  Parents: strings,
  LastUsedAt: z.nullish(z.string()),
  Type: orElse(z.string(), () => 'unknown'),
  InUse: orElse(z.boolean(), () => false),
  Shared: orElse(z.boolean(), () => false),
  Size: orElse(z.number(), () => 0),
});
export type BuildCacheRecord = z.infer<typeof ZBuildCacheRecord>;
/** What the build-cache figures need of a record (collectors/build-cache.ts). */
export type BuildCacheSizes = Pick<BuildCacheRecord, 'Type' | 'InUse' | 'Shared' | 'Size'>;

export const ZSystemDfBuildCache = z.object({
  BuildCache: orElse(z.array(ZBuildCacheRecord), () => []),
});

/** `DELETE /images/{id}`: one entry per tag removed and per image ID deleted. */
export const ZImageDeleteResponse = orElse(
  z.array(z.object({ Untagged: z.optional(z.string()), Deleted: z.optional(z.string()) })),
  () => [],
);
export type ImageDeleteItem = z.infer<typeof ZImageDeleteResponse>[number];

export const ZBuildPruneResponse = z.object({
  CachesDeleted: strings,
  SpaceReclaimed: orElse(z.number(), () => 0),
});
export type BuildPruneResponse = z.infer<typeof ZBuildPruneResponse>;
