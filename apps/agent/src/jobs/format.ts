import { formatBytesDecimal, type JobPlan, type JobResult } from '@ballast/shared';

const b = formatBytesDecimal;

/** A plan as `ballast-agent plan` prints it without --json. */
export function formatPlan(plan: JobPlan): string {
  const lines = [
    `Plan ${plan.jobId}: ${plan.kind} on engine ${plan.engineId || '?'} (${plan.plannedAt})`,
    `  ${plan.items.length} objects, ${b(plan.totalBytes)} (${plan.totalBytes} bytes); filesystem free now ${b(plan.freeBytes)}`,
  ];
  for (const i of plan.items) lines.push(`  + ${i.type.padEnd(12)} ${i.name} ${b(i.bytes)}  ${i.id}`);
  if (plan.skipped.length > 0) lines.push('', `Skipped (${plan.skipped.length}):`);
  for (const s of plan.skipped) lines.push(`  - ${s.type.padEnd(12)} ${s.name}: ${s.reason}`);
  if (plan.configChange) {
    const c = plan.configChange;
    lines.push('', `${c.path} (backup: ${c.backupPath}):`, '--- before', c.before ?? '(no file)', '+++ after', c.after);
  }
  if (plan.notes.length > 0) lines.push('', 'Notes:', ...plan.notes.map((n) => `  * ${n}`));
  lines.push('', `digest ${plan.digest}`);
  return `${lines.join('\n')}\n`;
}

/** A result as `ballast-agent execute` prints it without --json. */
export function formatResult(result: JobResult): string {
  const lines = [
    `Job ${result.jobId}: ${result.status}, freed ${b(result.bytesFreed)} (${result.bytesFreed} bytes)` +
      (result.engineReportedBytes === null ? '' : `; the engine reported ${result.engineReportedBytes} bytes`),
    `  filesystem free ${b(result.freeBytesBefore)} -> ${b(result.freeBytesAfter)} (${result.freeBytesAfter - result.freeBytesBefore} bytes)`,
  ];
  for (const i of result.items) {
    lines.push(
      `  ${i.outcome.padEnd(7)} ${i.type.padEnd(12)} ${i.name} ${b(i.bytes)}${i.reason ? `: ${i.reason}` : ''}`,
    );
  }
  if (result.error) lines.push(`error: ${result.error}`);
  return `${lines.join('\n')}\n`;
}
