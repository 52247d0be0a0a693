import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { importsOf } from '../../tools/lint/import-graph';

/**
 * Which code a recorded history was recorded with. Each workflow type's code is the JavaScript
 * that its entry module and everything it imports (values, not types) compile to, comments
 * left out: a change there may change the commands the workflow emits, so the replay test asks
 * for a history recorded with exactly that code (test/replay/replay.test.ts), besides replaying
 * the older ones. Types and comments can change without one.
 */
const root = path.resolve(__dirname, '../..');

export const WORKFLOW_ENTRIES = {
  databaseWorkflow: 'workflows/database/workflow.ts',
  upgradeWorkflow: 'workflows/upgrade.ts',
  backupWorkflow: 'workflows/backup.ts',
  scheduledBackupWorkflow: 'workflows/backup.ts',
  failoverWorkflow: 'workflows/failover.ts',
  switchoverWorkflow: 'workflows/switchover.ts',
} as const;
export type WorkflowType = keyof typeof WORKFLOW_ENTRIES;

export const INDEX_FILE = path.join(__dirname, 'histories', 'index.json');

/** One recorded history: its workflow type, the code it was recorded with, what it covers. */
export interface HistoryRecord {
  workflowType: WorkflowType;
  /** workflowCodeHash() when recorded; "before-index" for histories recorded before the index. */
  codeHash: string;
  covers: string;
}

export function readIndex(): Record<string, HistoryRecord> {
  return fs.existsSync(INDEX_FILE)
    ? (JSON.parse(fs.readFileSync(INDEX_FILE, 'utf8')) as Record<string, HistoryRecord>)
    : {};
}

export function writeIndex(index: Record<string, HistoryRecord>): void {
  const sorted = Object.fromEntries(Object.entries(index).sort(([a], [b]) => a.localeCompare(b)));
  fs.writeFileSync(INDEX_FILE, `${JSON.stringify(sorted, null, 2)}\n`);
}

/** The files a module runs with: itself and its value imports, transitively. */
export function runtimeClosure(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const e of importsOf(file)) if (!e.typeOnly) visit(e.to);
  };
  visit(path.join(root, entry));
  return [...seen].sort();
}

export function workflowCodeHash(type: WorkflowType): string {
  const hash = crypto.createHash('sha256');
  for (const file of runtimeClosure(WORKFLOW_ENTRIES[type])) {
    const js = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      compilerOptions: {
        removeComments: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.CommonJS,
      },
    }).outputText;
    hash.update(path.relative(root, file)).update('\0').update(js).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
