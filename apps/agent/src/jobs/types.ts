import type { ConfigChange, Inventory, JobKind, JobRejectCode, JobSpec, PlanItem, PlanSkip } from '@ballast/shared';
import type { RemediationConfig } from '../config/file.js';
import type { DockerClient } from '../docker/client.js';
import type { ContainerdJobTarget } from './containerd-images.js';

/** What jobs need from the agent: the engine, the measurements, and the local policy. */
export interface JobEnv {
  client: DockerClient;
  remediation: RemediationConfig;
  /** A fresh inventory with every walk (the scanner's measurement, so plan bytes equal the dashboard's). */
  measure(signal?: AbortSignal): Promise<Inventory>;
  /** Where this process sees Docker's data root (its containers' log files). */
  dataRoot(signal?: AbortSignal): Promise<{ enginePath: string; localPath: string }>;
  /**
   * Free bytes of the filesystems holding what a job of this kind acts on (Docker's data root,
   * containerd's content and snapshot stores, or the pod log directory); refuses when unknown.
   */
  freeSpace(kind: JobKind, signal?: AbortSignal): Promise<number>;
  now(): Date;
  /** Docker is the engine jobs act on. */
  docker: boolean;
  /** Set on hosts measured through containerd alone: image jobs act through containerd, other kinds are refused. */
  containerd: ContainerdJobTarget | null;
}

/** What a planner produces; the plan module adds identity, free space and the digest. */
export interface PlanDraft {
  items: PlanItem[];
  skipped: PlanSkip[];
  notes: string[];
  configChange: ConfigChange | null;
}

export type SpecOf<K extends JobKind> = Extract<JobSpec, { kind: K }>;

/** A refusal to plan or execute, acting on nothing; becomes `job.rejected`. */
export class JobRefusal extends Error {
  override readonly name = 'JobRefusal';
  constructor(
    readonly code: JobRejectCode,
    message: string,
  ) {
    super(message);
  }
}
