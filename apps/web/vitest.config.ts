import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ballastVitestConfig } from '../../vitest.shared.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

export default ballastVitestConfig('web', {}, { resolve: { alias: { '~': path.join(here, 'src') } } });
