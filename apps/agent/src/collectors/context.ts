import path from 'node:path';
import type { BuildCache, Engine, Filesystem } from '@ballast/shared';
import type { DockerClient } from '../docker/client.js';
import type { TreeUsage } from '../fs/walk.js';
import type { StoredImage } from './images.js';

/**
 * Maps paths the engine reports (under its DockerRootDir) to where this process reads them:
 * the same path on the host, or below `--data-root` when the agent sees the data root elsewhere.
 */
export class DataRoot {
  constructor(
    readonly enginePath: string,
    readonly localPath: string,
  ) {}

  local(enginePath: string): string {
    if (this.enginePath === this.localPath) return enginePath;
    if (enginePath === this.enginePath) return this.localPath;
    if (enginePath.startsWith(`${this.enginePath}/`)) {
      return path.join(this.localPath, enginePath.slice(this.enginePath.length + 1));
    }
    return enginePath;
  }

  join(...parts: string[]): string {
    return path.join(this.localPath, ...parts);
  }
}

export interface EngineFacts {
  engine: Engine;
  root: DataRoot;
  /** `<root>/image/<driver>/layerdb` when readable; null on the containerd store or without access. */
  layerdbDir: string | null;
}

/** One layerdb entry; immutable for a given chainID. */
export interface LayerMeta {
  chainId: string;
  diffId: string;
  cacheId: string | null;
  /** Docker's recorded size (layerdb `size`, or image history when the layerdb is unreadable). */
  sizeBytes: number;
  parent: string | null;
}

export interface ImageFacts {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  createdAt: string | null;
  labels: Record<string, string>;
  parentId: string | null;
  diffIds: string[];
  chainIds: string[];
  /** Docker's own `Size`, used only when a layer of the chain has no known size. */
  apiSizeBytes: number;
}

export interface LogFileFacts {
  path: string;
  bytes: number;
  allocatedBytes: number;
  compressed: boolean;
}

export interface ContainerFacts {
  id: string;
  name: string;
  image: string;
  imageId: string;
  state: string;
  labels: Record<string, string>;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  logDriver: string;
  logOptions: Record<string, string>;
  logFiles: LogFileFacts[];
  /** overlay2 `<mount-id>/diff`, local path; null when the engine reports none (other stores). */
  upperDir: string | null;
  volumeNames: string[];
}

export interface VolumeFacts {
  name: string;
  driver: string;
  labels: Record<string, string>;
  anonymous: boolean;
  buildkitState: boolean;
  /** Local path of the volume's data. */
  mountpoint: string;
  /** Local driver without options: a plain directory Docker itself would measure. */
  walkable: boolean;
}

/** Everything the cheap collectors gather each interval. */
export interface CheapFacts {
  engine: EngineFacts;
  filesystem: Filesystem | null;
  /** chainID → layer; from the layerdb, or derived from image history when it is unreadable. */
  layers: Map<string, LayerMeta>;
  layerSource: 'layerdb' | 'history' | 'none';
  images: ImageFacts[];
  /** Container ID → chainID its rw layer sits on (layerdb/mounts/<id>/parent). */
  containerParents: Map<string, string>;
  containers: ContainerFacts[];
  volumes: VolumeFacts[];
}

/** Results of the expensive walks, reused between slow passes. */
export interface SlowResults {
  layerUsage: Map<string, { cacheId: string; usage: TreeUsage }>;
  containerUsage: Map<string, { upperDir: string; usage: TreeUsage }>;
  volumeUsage: Map<string, { mountpoint: string; usage: TreeUsage }>;
  buildCache: BuildCache | null;
  unattributedBytes: number | null;
}

export interface ScanContext {
  client: DockerClient;
  signal?: AbortSignal | undefined;
  dataRootOverride: string | null;
  mountInfoPath: string;
  /** Immutable per image ID: configs, inspect and history answers are cached for the process lifetime. */
  imageCache: Map<
    string,
    {
      diffIds: string[];
      chainIds: string[];
      parentId: string | null;
      historySizes?: number[] | null;
      /** The rest of the config, when the image store was read (collectors/images.ts). */
      stored?: Omit<StoredImage, 'diffIds' | 'parentId'>;
    }
  >;
  /** Immutable per chainID. */
  layerMetaCache: Map<string, LayerMeta>;
  /** The last layerdb listing, reused while the directory's mtime is unchanged (collectors/layers.ts). */
  layerListing: { dir: string; mtimeNs: bigint; ino: bigint; names: string[] } | null;
  /**
   * The previous pass's facts when the engine reported no change since they were listed
   * (docker/engine-changes.ts): the engine, container, image and volume collectors reuse them
   * instead of asking dockerd again; log files and everything on disk are still read.
   */
  reuse: CheapFacts | null;
  facts: Partial<CheapFacts>;
}
