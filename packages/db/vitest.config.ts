import { ballastVitestConfig } from '../../vitest.shared.ts';

export default ballastVitestConfig('db');
