import { ballastVitestConfig } from '../../vitest.shared.ts';

// Integration tests walk a real dockerd's data root and spawn the CLI: allow them time.
export default ballastVitestConfig('agent', { testTimeout: 120_000, hookTimeout: 120_000 });
