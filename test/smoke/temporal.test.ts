import path from 'node:path';
import type { Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { searchAttributeKeys } from '../../workflows/search-attributes';
import { stackInfo, temporalClient, temporalConnection, uniqueName } from '../support/stack';
import { quietTemporalRuntime } from '../support/temporal-runtime';

describe('Temporal dev server (smoke)', () => {
  let connection: Connection;
  beforeAll(async () => {
    quietTemporalRuntime();
    connection = await temporalConnection();
  });
  afterAll(async () => {
    await connection.close();
  });

  it('has the operator search attributes registered as Keyword', async () => {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({
      namespace: stackInfo().temporal.namespace,
    });
    for (const key of searchAttributeKeys) {
      // 2 = INDEXED_VALUE_TYPE_KEYWORD
      expect(customAttributes?.[key.name]).toBe(2);
    }
  });

  it('runs a workflow with one activity on a real Worker and records it in history', async () => {
    const taskQueue = uniqueName('smoke');
    const workerConnection = await NativeConnection.connect({ address: stackInfo().temporal.address });
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'fixtures', 'greeting-workflow.ts'),
      logger: new DefaultLogger('ERROR'),
    });
    const worker = await Worker.create({
      connection: workerConnection,
      namespace: stackInfo().temporal.namespace,
      taskQueue,
      workflowBundle,
      activities: { greet: async (name: string) => `hello, ${name}` },
    });
    const client = temporalClient(connection);
    const workflowId = uniqueName('greeting');
    const result = await worker.runUntil(
      client.workflow.execute('greetingWorkflow', { taskQueue, workflowId, args: ['orders-db'] }),
    );
    await workerConnection.close();
    expect(result).toBe('hello, orders-db');

    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const types = (history.events ?? []).map((e) => e.eventType);
    // 10 = ACTIVITY_TASK_SCHEDULED, 12 = ACTIVITY_TASK_COMPLETED, 2 = WORKFLOW_EXECUTION_COMPLETED
    expect(types).toEqual(expect.arrayContaining([10, 12, 2]));
    const scheduled = history.events?.find((e) => e.activityTaskScheduledEventAttributes);
    expect(scheduled?.activityTaskScheduledEventAttributes?.activityType?.name).toBe('greet');
  });
});
