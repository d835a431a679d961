#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader; resolved from this file, so any cwd works.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import(new URL('../src/cli.ts', import.meta.url).href);
await runCli(process.argv.slice(2));
