#!/usr/bin/env node
// Bundles the agent into one ESM file (dist/ballast-agent.mjs) that runs on Node.js 20+
// with no node_modules beside it: what `install` copies to a host and the server serves.
// The second line names the version, so the server can advertise it without running the file.
import { chmod, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const agentDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(await readFile(path.join(agentDir, 'package.json'), 'utf8'));
const outfile = path.join(agentDir, 'dist', 'ballast-agent.mjs');

// containerd's API definitions travel inside the bundle (src/containerd/client.ts parses them).
const protoDir = path.join(agentDir, 'proto');
const protos = {};
for (const name of (await readdir(path.join(protoDir, 'containerd'))).sort()) {
  if (name.endsWith('.proto'))
    protos[`containerd/${name}`] = await readFile(path.join(protoDir, 'containerd', name), 'utf8');
}

// The native walker (scripts/build-native.mjs) travels inside the bundle too, so a host still
// receives one file; src/fs/native-walk.ts loads it, and falls back to the JavaScript walk on
// another platform or architecture, or when this bundle was built without a compiler.
const nativeFile = path.join(agentDir, 'build', 'ballast-walk.node');
const nativeBytes = await readFile(nativeFile).catch(() => null);
if (!nativeBytes) process.stderr.write(`bundle: ${nativeFile} not built: this bundle walks in JavaScript\n`);
const nativeWalk = nativeBytes
  ? { platform: process.platform, arch: process.arch, base64: nativeBytes.toString('base64') }
  : null;

await build({
  entryPoints: [path.join(agentDir, 'src', 'cli.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  legalComments: 'none',
  // ws loads these optional native speed-ups inside try/catch; the pure-JS paths are used.
  external: ['bufferutil', 'utf-8-validate'],
  define: {
    __BALLAST_AGENT_VERSION__: JSON.stringify(version),
    __BALLAST_CONTAINERD_PROTOS__: JSON.stringify(protos),
    __BALLAST_NATIVE_WALK__: JSON.stringify(nativeWalk),
  },
  // Some bundled CommonJS (ws) calls require() for node builtins; ESM output has none.
  banner: {
    js: [
      '#!/usr/bin/env node',
      `// ballast-agent ${version}`,
      "import { createRequire as __ballastCreateRequire } from 'node:module';",
      'const require = __ballastCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  logLevel: 'warning',
});
await chmod(outfile, 0o755);
const { size } = await stat(outfile);
process.stdout.write(`${path.relative(process.cwd(), outfile)}: ${size} bytes (ballast-agent ${version})\n`);
