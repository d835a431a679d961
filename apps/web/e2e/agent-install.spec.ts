import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { type Server, startServer } from './stack';

// The production server (server.ts after `next build`) serves the agent: the bytes on disk,
// the checksum sha256sum computes, and an install script pointing back at itself.
const bundlePath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../agent/dist/ballast-agent.mjs');
let server: Server;

test.beforeAll(async () => {
  server = await startServer();
});

test.afterAll(async () => {
  await server?.stop();
});

test('the server publishes the agent bundle, its SHA-256 and /install.sh', async ({ request }) => {
  const onDisk = readFileSync(bundlePath);
  const sha = execFileSync('sha256sum', [bundlePath], { encoding: 'utf8' }).split(' ')[0];
  expect(sha).toBe(createHash('sha256').update(onDisk).digest('hex'));

  const download = await request.get(`${server.url}/agent/v1/download/ballast-agent.mjs`);
  expect(download.status()).toBe(200);
  const body = await download.body();
  expect(body.equals(onDisk)).toBe(true);
  expect(download.headers()['x-ballast-agent-sha256']).toBe(sha);

  const sum = await request.get(`${server.url}/agent/v1/download/ballast-agent.mjs.sha256`);
  expect(await sum.text()).toBe(`${sha}  ballast-agent.mjs\n`);

  const script = await request.get(`${server.url}/install.sh`);
  expect(script.status()).toBe(200);
  const text = await script.text();
  expect(text.startsWith('#!/bin/sh\n')).toBe(true);
  expect(text).toContain(`SERVER='${server.url}'`);
  expect(text).toContain(`SHA256='${sha}'`);
  execFileSync('sh', ['-n'], { input: text });
});
