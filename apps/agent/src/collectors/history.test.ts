import { describe, expect, it } from 'vitest';
import { historyLayerSizes } from './history.js';

const step = (CreatedBy: string, Size: number) => ({ Id: '<missing>', CreatedBy, Size });

describe('historyLayerSizes', () => {
  it('maps classic-builder history (newest first, #(nop) config steps) to layers', () => {
    const history = [
      step('/bin/sh -c #(nop)  LABEL fixture=fx', 0),
      step('/bin/sh -c #(nop)  CMD ["/bin/sh"]', 0),
      step('/bin/sh -c dd if=/dev/urandom of=/l.bin bs=1024 count=512', 524288),
      step('/bin/busybox --install -s /bin', 3216),
      step('/bin/sh -c #(nop) COPY file:4c00 in /bin/busybox ', 1982256),
    ];
    expect(historyLayerSizes(history, 3)).toEqual([1982256, 3216, 524288]);
  });

  it('keeps zero-size layers that BuildKit recorded as RUN/COPY steps', () => {
    const history = [
      step('CMD ["/bin/sh"]', 0),
      step('RUN /bin/sh -c rm /tmp/junk # buildkit', 0),
      step('RUN /bin/sh -c dd of=/tmp/junk # buildkit', 2097152),
      step('RUN ["/bin/busybox","--install","-s","/bin"] # buildkit', 0),
      step('COPY busybox /bin/busybox # buildkit', 1982256),
    ];
    expect(historyLayerSizes(history, 4)).toEqual([1982256, 0, 2097152, 0]);
  });

  it('returns null when the history cannot account for the layers', () => {
    expect(historyLayerSizes([step('RUN a', 5), step('RUN b', 6)], 1)).toBeNull();
    expect(historyLayerSizes([step('CMD x', 0)], 2)).toBeNull();
  });
});
