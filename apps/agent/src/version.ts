import { readFileSync } from 'node:fs';

/** Set by the bundler (scripts/bundle.mjs) to package.json's version; absent under tsx. */
declare const __BALLAST_AGENT_VERSION__: string | undefined;

/** The agent's version, from its package.json so `version`, `hello` and the inventory agree. */
export const AGENT_VERSION: string =
  typeof __BALLAST_AGENT_VERSION__ === 'string'
    ? __BALLAST_AGENT_VERSION__
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
