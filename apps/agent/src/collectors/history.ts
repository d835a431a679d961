import type { ImageHistory } from '../docker/api-types.js';

/** Dockerfile instructions that only change the image config (no layer), as BuildKit writes them. */
const METADATA_INSTRUCTION =
  /^(ARG|CMD|ENTRYPOINT|ENV|EXPOSE|HEALTHCHECK|LABEL|MAINTAINER|ONBUILD|SHELL|STOPSIGNAL|USER|VOLUME|WORKDIR)\b/;

function isMetadataOnly(createdBy: string): boolean {
  // Classic builder: "/bin/sh -c #(nop)  CMD [...]"; its COPY/ADD are "#(nop) COPY ..." and do make layers.
  const nop = /#\(nop\)\s+(\S+)/.exec(createdBy);
  if (nop) return !/^(ADD|COPY)$/i.test(nop[1] ?? '');
  return METADATA_INSTRUCTION.test(createdBy.trim());
}

/**
 * Per-layer sizes (bottom first) from `/images/{id}/history`, the fallback when the layerdb
 * cannot be read. History lists config-only steps too, all with size 0 and no marker, so
 * steps are matched to layers in order: every step with a size is a layer, then zero-size
 * steps that are not config-only instructions, then the rest. Returns null when the history
 * cannot account for the layers.
 */
export function historyLayerSizes(history: ImageHistory, layerCount: number): number[] | null {
  const steps = [...history].reverse();
  if (steps.length === layerCount) return steps.map((s) => s.Size);
  const sized = steps.filter((s) => s.Size > 0).length;
  if (sized > layerCount) return null;
  let missing = layerCount - sized;
  const chosen = steps.map((s) => s.Size > 0);
  for (const pass of [false, true]) {
    steps.forEach((s, i) => {
      if (missing > 0 && !chosen[i] && (pass || !isMetadataOnly(s.CreatedBy))) {
        chosen[i] = true;
        missing -= 1;
      }
    });
  }
  if (missing > 0) return null;
  return steps.filter((_, i) => chosen[i]).map((s) => s.Size);
}
