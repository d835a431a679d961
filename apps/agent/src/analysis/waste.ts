import { closeSync, openSync, readSync } from 'node:fs';
import type { ImageWaste, WasteItem } from '@ballast/shared';
import { comparePaths, decodeEntry, isAncestor, type LayerEntry } from './records.js';

/** Reads a records file line by line through one small buffer. */
export class LineReader {
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private rest = '';
  private lines: string[] = [];
  private eof = false;

  constructor(private readonly fd: number) {}

  static open(file: string): LineReader {
    return new LineReader(openSync(file, 'r'));
  }

  next(): string | null {
    while (this.lines.length === 0) {
      if (this.eof) {
        if (this.rest === '') return null;
        const last = this.rest;
        this.rest = '';
        return last;
      }
      const n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      if (n === 0) {
        this.eof = true;
        continue;
      }
      const parts = (this.rest + this.buf.toString('utf8', 0, n)).split('\n');
      this.rest = parts.pop() ?? '';
      this.lines = parts.reverse();
    }
    return this.lines.pop() as string;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export const WASTE_ITEMS_LISTED = 20;

export interface EntrySource {
  /** The layer's chainID. */
  chainId: string;
  next(): LayerEntry | null;
}

interface Hider {
  path: string;
  /** Entries of layers below this index (0 = top) under `path` are hidden. */
  below: number;
  reason: WasteItem['reason'];
}

/**
 * Redundant copies in one image: regular files of a layer that an upper layer of the same
 * image overwrites (same path), deletes (a whiteout, or a non-directory put in place of the
 * file or of a parent directory) or hides (a parent made opaque). The copy that stays visible
 * is never counted. `layers` are top first; each yields its records in tree order
 * (`comparePaths`), so one merge pass sees every path of every layer together and each
 * subtree contiguously; memory is one entry per layer plus the stack of hiding ancestors.
 * A hard-linked inode counts at its first path only (`h` records carry no bytes).
 */
export function computeImageWaste(imageId: string, layers: readonly EntrySource[]): ImageWaste {
  const heads: Array<LayerEntry | null> = layers.map((l) => l.next());
  const stack: Hider[] = [];
  const items: WasteItem[] = [];
  let wastedBytes = 0;
  let itemCount = 0;

  const keep = (item: WasteItem) => {
    wastedBytes += item.bytes;
    itemCount += 1;
    items.push(item);
    if (items.length >= WASTE_ITEMS_LISTED * 10) {
      items.sort(byBytes);
      items.length = WASTE_ITEMS_LISTED;
    }
  };

  for (;;) {
    let current: string | null = null;
    for (const head of heads) {
      if (head && (current === null || comparePaths(head.path, current) < 0)) current = head.path;
    }
    if (current === null) break;
    const path = current;
    const here: Array<{ index: number; entry: LayerEntry }> = [];
    heads.forEach((head, index) => {
      if (head && head.path === path) {
        here.push({ index, entry: head });
        heads[index] = (layers[index] as EntrySource).next();
      }
    });
    while (stack.length > 0 && !isAncestor((stack[stack.length - 1] as Hider).path, path)) stack.pop();
    const inherited = stack[stack.length - 1];
    const ancestorBelow = inherited?.below ?? Number.POSITIVE_INFINITY;
    const top = here[0] as { index: number; entry: LayerEntry };

    for (const { index, entry } of here) {
      if (entry.type !== 'f' || entry.size === 0) continue;
      let reason: WasteItem['reason'] | null = null;
      if (index > ancestorBelow) reason = (inherited as Hider).reason;
      else if (index > top.index) reason = top.entry.type === 'w' ? 'deleted' : 'overwritten';
      if (reason) {
        keep({ path, chainId: (layers[index] as EntrySource).chainId, bytes: entry.size, reason });
      }
    }

    if (here.some(({ entry }) => entry.type === 'd')) {
      let below = ancestorBelow;
      let reason: WasteItem['reason'] = inherited?.reason ?? 'deleted';
      for (const { index, entry } of here) {
        if (index >= below) break;
        if (entry.type !== 'd') {
          below = index;
          reason = 'deleted';
        } else if (entry.payload === 'opaque') {
          below = index;
          reason = 'opaque';
        }
      }
      stack.push({ path, below, reason });
    }
  }
  items.sort(byBytes);
  return { imageId, wastedBytes, itemCount, items: items.slice(0, WASTE_ITEMS_LISTED) };
}

function byBytes(a: WasteItem, b: WasteItem): number {
  return b.bytes - a.bytes || comparePaths(a.path, b.path);
}

/** An entry source over a records file. */
export function recordsSource(chainId: string, file: string): EntrySource & { close(): void } {
  const reader = LineReader.open(file);
  return {
    chainId,
    next() {
      const line = reader.next();
      return line === null ? null : decodeEntry(line);
    },
    close: () => reader.close(),
  };
}
