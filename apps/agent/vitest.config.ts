import { ballastVitestConfig } from '../../vitest.shared.ts';

// Integration tests walk a real dockerd's data root and spawn the CLI: allow them time.
// Files run one at a time: each integration file compares a scan with what the engine
// says afterwards, and another file creating or removing objects in between breaks that.
export default ballastVitestConfig('agent', { testTimeout: 120_000, hookTimeout: 120_000, fileParallelism: false });
