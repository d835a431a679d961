import { readFile } from 'node:fs/promises';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** Mount points in mountinfo escape space, tab, newline and backslash as \ooo octal. */
function unescapeMountField(value: string): string {
  return value.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Parses /proc/<pid>/mountinfo (proc(5)): field 5 is the mount point; after " - " come fstype and source. */
export function parseMountInfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    const tail = right.split(' ');
    const mountPoint = fields[4];
    const fsType = tail[0];
    const source = tail[1];
    if (mountPoint === undefined || fsType === undefined || source === undefined) continue;
    mounts.push({ mountPoint: unescapeMountField(mountPoint), fsType, source: unescapeMountField(source) });
  }
  return mounts;
}

function contains(mountPoint: string, target: string): boolean {
  return mountPoint === '/' || target === mountPoint || target.startsWith(`${mountPoint}/`);
}

/** The mount holding `target`: the longest containing mount point; a later entry over-mounts an earlier one. */
export function findMount(mounts: readonly MountEntry[], target: string): MountEntry | null {
  let best: MountEntry | null = null;
  for (const m of mounts) {
    if (!contains(m.mountPoint, target)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  return best;
}

/** Mount points strictly below `root`: a walk of `root` must not enter them. */
export function mountPointsBelow(mounts: readonly MountEntry[], root: string): Set<string> {
  const below = new Set<string>();
  for (const m of mounts) {
    if (m.mountPoint !== root && m.mountPoint.startsWith(`${root}/`)) below.add(m.mountPoint);
  }
  return below;
}

export async function readMountInfo(file = '/proc/self/mountinfo'): Promise<MountEntry[]> {
  return parseMountInfo(await readFile(file, 'utf8'));
}
