import { z } from 'zod';

/*
 * The parts of Engine API responses the agent reads. Docker encodes empty slices and maps
 * as `null` and omits zero-valued `omitempty` fields (`SizeRw`), so absent and null both
 * normalise to empty values here. Unknown keys are dropped.
 */

const strings = z
  .array(z.string())
  .nullish()
  .transform((v) => v ?? []);
const stringMap = z
  .record(z.string(), z.string())
  .nullish()
  .transform((v) => v ?? {});

export const ZEngineVersion = z.object({
  Version: z.string(),
  ApiVersion: z.string(),
  MinAPIVersion: z.string().nullish(),
  Os: z.string().nullish(),
  KernelVersion: z.string().nullish(),
});
export type EngineVersion = z.infer<typeof ZEngineVersion>;

export const ZEngineInfo = z.object({
  Driver: z.string(),
  DriverStatus: z
    .array(z.array(z.string()))
    .nullish()
    .transform((v) => v ?? []),
  DockerRootDir: z.string(),
  /** The engine's own ID; remediation plans are bound to it. */
  ID: z.string().nullish(),
  LoggingDriver: z.string().nullish(),
  OperatingSystem: z.string().nullish(),
  KernelVersion: z.string().nullish(),
});
export type EngineInfo = z.infer<typeof ZEngineInfo>;

export const ZImageSummary = z.object({
  Id: z.string(),
  ParentId: z
    .string()
    .nullish()
    .transform((v) => v ?? ''),
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
  Parent: z
    .string()
    .nullish()
    .transform((v) => v ?? ''),
  RootFS: z
    .object({ Type: z.string().nullish(), Layers: strings })
    .nullish()
    .transform((v) => v ?? { Type: null, Layers: [] }),
});
export type ImageInspect = z.infer<typeof ZImageInspect>;

export const ZImageHistory = z.array(
  z.object({
    Id: z.string(),
    CreatedBy: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
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
  Created: z.string().nullish(),
  Image: z.string(),
  State: z.object({
    Status: z.string(),
    StartedAt: z.string().nullish(),
    FinishedAt: z.string().nullish(),
  }),
  LogPath: z
    .string()
    .nullish()
    .transform((v) => v ?? ''),
  HostConfig: z
    .object({
      LogConfig: z
        .object({ Type: z.string().nullish(), Config: stringMap })
        .nullish()
        .transform((v) => v ?? { Type: null, Config: {} }),
    })
    .nullish()
    .transform((v) => v ?? { LogConfig: { Type: null, Config: {} } }),
  GraphDriver: z
    .object({ Name: z.string().nullish(), Data: stringMap })
    .nullish()
    .transform((v) => v ?? { Name: null, Data: {} }),
  Mounts: z
    .array(
      z.object({
        Type: z.string().nullish(),
        Name: z.string().nullish(),
        Source: z.string().nullish(),
        Destination: z.string().nullish(),
      }),
    )
    .nullish()
    .transform((v) => v ?? []),
});
export type ContainerInspect = z.infer<typeof ZContainerInspect>;

export const ZVolumeList = z.object({
  Volumes: z
    .array(
      z.object({
        Name: z.string(),
        Driver: z.string(),
        Mountpoint: z.string(),
        Labels: stringMap,
        Options: stringMap,
        Scope: z.string().nullish(),
      }),
    )
    .nullish()
    .transform((v) => v ?? []),
});
export type VolumeSummary = z.infer<typeof ZVolumeList>['Volumes'][number];

export const ZBuildCacheRecord = z.object({
  ID: z.string(),
  /** `Parent` (API < 1.42) and `Parents` (1.42+) merged: records this one builds on. */
  Parent: z.string().nullish(),
  Parents: strings,
  LastUsedAt: z.string().nullish(),
  Type: z
    .string()
    .nullish()
    .transform((v) => v ?? 'unknown'),
  InUse: z
    .boolean()
    .nullish()
    .transform((v) => v ?? false),
  Shared: z
    .boolean()
    .nullish()
    .transform((v) => v ?? false),
  Size: z
    .number()
    .nullish()
    .transform((v) => v ?? 0),
});
export type BuildCacheRecord = z.infer<typeof ZBuildCacheRecord>;

export const ZSystemDfBuildCache = z.object({
  BuildCache: z
    .array(ZBuildCacheRecord)
    .nullish()
    .transform((v) => v ?? []),
});

/** `DELETE /images/{id}`: one entry per tag removed and per image ID deleted. */
export const ZImageDeleteResponse = z
  .array(z.object({ Untagged: z.string().optional(), Deleted: z.string().optional() }))
  .nullish()
  .transform((v) => v ?? []);
export type ImageDeleteItem = z.infer<typeof ZImageDeleteResponse>[number];

export const ZBuildPruneResponse = z.object({
  CachesDeleted: strings,
  SpaceReclaimed: z
    .number()
    .nullish()
    .transform((v) => v ?? 0),
});
export type BuildPruneResponse = z.infer<typeof ZBuildPruneResponse>;
