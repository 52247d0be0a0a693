import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { quietTemporalRuntime } from '../support/temporal-runtime';
import { readIndex, WORKFLOW_ENTRIES, workflowCodeHash, type WorkflowType } from './coverage';

/**
 * Determinism guard (DESIGN.md rule 7): histories recorded from real runs of the shipped workflow
 * (a full lifecycle: provisioning, edits, scaling, drift repair, deletion, re-creation) must
 * replay against the current workflow code. A change that breaks this needs `patched()`.
 * And every workflow type must have a history recorded with its current code (test/replay/coverage.ts):
 * a change to workflow code is recorded before it ships, so the next change is replayed against it.
 * Record with `DURABLE_RECORD_HISTORIES=1 npx jest test/integration/{database-lifecycle,upgrade,backup,cluster-record}`
 * (new files are added; those of earlier code stay and keep replaying).
 */
const dir = path.join(__dirname, 'histories');

describe('replay of recorded histories', () => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'index.json');

  it('has recorded histories to replay, each listed in the index', () => {
    expect(files.length).toBeGreaterThan(0);
    const index = readIndex();
    expect(files.filter((f) => !index[f])).toEqual([]);
    expect(Object.keys(index).filter((f) => !files.includes(f))).toEqual([]);
  });

  it('has, for every workflow type, a history recorded with its current code', () => {
    const index = Object.values(readIndex());
    const missing = (Object.keys(WORKFLOW_ENTRIES) as WorkflowType[])
      .map((type) => ({ type, codeHash: workflowCodeHash(type) }))
      .filter(({ type, codeHash }) => !index.some((r) => r.workflowType === type && r.codeHash === codeHash))
      .map(({ type, codeHash }) => `${type} at code ${codeHash}`);
    expect(missing).toEqual([]);
  });

  it('replays every recorded history without nondeterminism', async () => {
    quietTemporalRuntime();
    const workflowBundle = { code: fs.readFileSync(process.env.DURABLE_WORKFLOW_BUNDLE!, 'utf8') };
    const histories = files.map((f) => ({
      workflowId: f,
      history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))),
    }));
    const results = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle }, histories)) {
      results.push({ workflowId: result.workflowId, error: result.error?.message });
    }
    expect(results).toEqual(files.map((f) => ({ workflowId: f, error: undefined })));
  });
});
