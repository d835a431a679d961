import { JOB_KINDS } from '@ballast/shared';
import { describe, expect, it } from 'vitest';
import { ContainerdClient } from '../containerd/client.js';
import { DEFAULT_K3S_PATHS } from '../containerd/k3s.js';
import { hostJobKinds, hostRefusal } from './kinds.js';

const containerd = (k3s: boolean) => ({
  // A client connects on its first call; none is made here.
  client: new ContainerdClient('/run/containerd/containerd.sock', 'k8s.io'),
  snapshotter: 'overlayfs',
  k3sPaths: k3s ? DEFAULT_K3S_PATHS : null,
});

describe('hostJobKinds', () => {
  it('denies by default: no engine, no kind', () => {
    expect(hostJobKinds({ docker: false, containerd: null })).toEqual([]);
    expect(hostRefusal({ docker: false, containerd: null }, 'images.pruneDangling')).toMatch(/no engine/);
  });

  it("Docker runs every kind but k3s's; containerd the image kinds, and k3s's only with k3s", () => {
    expect(hostJobKinds({ docker: true, containerd: null })).toEqual(JOB_KINDS.filter((k) => !k.startsWith('k3s.')));
    expect(hostJobKinds({ docker: false, containerd: containerd(false) })).toEqual([
      'images.pruneDangling',
      'images.pruneUnused',
    ]);
    expect(hostJobKinds({ docker: false, containerd: containerd(true) })).toEqual([
      'images.pruneDangling',
      'images.pruneUnused',
      'k3s.configureImageGC',
      'k3s.configureLogRotation',
    ]);
    expect(hostRefusal({ docker: true, containerd: null }, 'k3s.configureImageGC')).toMatch(/act on Docker/);
    expect(hostRefusal({ docker: false, containerd: containerd(true) }, 'volumes.remove')).toMatch(
      /namespace k8s\.io\), so only images\.pruneDangling/,
    );
    expect(hostRefusal({ docker: false, containerd: containerd(true) }, 'images.pruneUnused')).toBeNull();
  });
});
