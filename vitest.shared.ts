import path from 'node:path';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

/**
 * Vitest settings shared by every workspace. With BALLAST_TEST_RESULTS_DIR set (by
 * `npm test`) each workspace also writes a JSON report there, which the suite summary reads.
 */
export function ballastVitestConfig(
  name: string,
  test: NonNullable<ViteUserConfig['test']> = {},
  extra: Omit<ViteUserConfig, 'test'> = {},
) {
  const resultsDir = process.env.BALLAST_TEST_RESULTS_DIR;
  return defineConfig({
    ...extra,
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 120_000,
      ...(resultsDir
        ? { reporters: ['default', 'json'], outputFile: { json: path.join(resultsDir, `vitest-${name}.json`) } }
        : {}),
      ...test,
    },
  });
}
