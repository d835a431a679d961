#!/usr/bin/env node
// Adds up the JSON reports of every test runner into the suite's closing line.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const [dir, failedStepsArg = '0'] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  const report = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  let p = 0;
  let f = 0;
  let s = 0;
  if (file.startsWith('vitest-')) {
    p = report.numPassedTests ?? 0;
    f = (report.numFailedTests ?? 0) + (report.numRuntimeErrors ?? 0);
    s = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    // A suite that failed to load reports its tests as neither passed nor failed.
    f += (report.testResults ?? []).filter(
      (r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0,
    ).length;
  } else if (file === 'playwright.json') {
    p = (report.stats?.expected ?? 0) + (report.stats?.flaky ?? 0);
    f = report.stats?.unexpected ?? 0;
    s = report.stats?.skipped ?? 0;
  } else {
    continue;
  }
  rows.push(`  ${file.replace(/\.json$/, '').padEnd(24)} ${p} passed, ${f} failed${s ? `, ${s} skipped` : ''}`);
  passed += p;
  failed += f;
  skipped += s;
}
console.log('\nTest summary');
for (const row of rows) console.log(row);
const failedSteps = Number(failedStepsArg);
if (failedSteps > 0) console.log(`  (${failedSteps} step(s) failed outside the test runners)`);
console.log(`${passed} passed, ${failed + failedSteps} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
