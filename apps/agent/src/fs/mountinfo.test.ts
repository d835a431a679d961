import { describe, expect, it } from 'vitest';
import { findMount, mountPointsBelow, parseMountInfo } from './mountinfo.js';

const SAMPLE = [
  '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
  '42 27 254:0 /srv/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw',
  '48 42 0:39 / /var/lib/docker/overlay2/623a/merged rw,relatime shared:2 - overlay overlay rw,lowerdir=/x',
  '50 27 0:40 / /mnt/my\\040disk rw - xfs /dev/sdb\\0401 rw',
  '51 27 0:41 / /var/lib/dockerish rw - tmpfs tmpfs rw',
  '60 27 0:42 / /data rw - ext4 /dev/sdc rw',
  '61 27 0:43 / /data rw - xfs /dev/sdd rw',
  '',
].join('\n');

describe('mountinfo', () => {
  const mounts = parseMountInfo(SAMPLE);

  it('parses mount point, fs type and source, unescaping octal sequences', () => {
    expect(mounts).toHaveLength(7);
    expect(mounts[3]).toEqual({ mountPoint: '/mnt/my disk', fsType: 'xfs', source: '/dev/sdb 1' });
  });

  it('finds the longest mount point containing a path, on path boundaries', () => {
    expect(findMount(mounts, '/var/lib/docker')?.mountPoint).toBe('/var/lib/docker');
    expect(findMount(mounts, '/var/lib/docker/volumes')?.mountPoint).toBe('/var/lib/docker');
    expect(findMount(mounts, '/var/lib/dockerish/x')?.fsType).toBe('tmpfs');
    expect(findMount(mounts, '/var/lib/dock')?.mountPoint).toBe('/');
    expect(findMount(mounts, '/mnt/my disk/a')?.source).toBe('/dev/sdb 1');
  });

  it('takes the later of two mounts on the same point (over-mount)', () => {
    expect(findMount(mounts, '/data/x')?.source).toBe('/dev/sdd');
  });

  it('lists mount points strictly below a root', () => {
    expect([...mountPointsBelow(mounts, '/var/lib/docker')]).toEqual(['/var/lib/docker/overlay2/623a/merged']);
  });
});
