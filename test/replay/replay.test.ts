import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { quietTemporalRuntime } from '../support/temporal-runtime';

/**
 * Determinism guard (DESIGN.md rule 7): histories recorded from real runs of the shipped workflow
 * (a full lifecycle: provisioning, edits, scaling, drift repair, deletion, re-creation) must
 * replay against the current workflow code. A change that breaks this needs `patched()`.
 * Refresh the fixtures with `DURABLE_RECORD_HISTORIES=1 npx jest test/integration/database-lifecycle`.
 */
const dir = path.join(__dirname, 'histories');

describe('replay of recorded histories', () => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));

  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
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
