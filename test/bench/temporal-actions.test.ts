import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { countActions, eventTimeMs, timerDurationsMs } from './temporal-actions';

const recorded = (file: string) =>
  historyFromJSON(
    JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'replay', 'histories', file), 'utf8')),
  ).events!;

describe('Temporal actions counted from a history', () => {
  // A real provisioning (test/replay): SignalWithStart, 15 activities, the resync timer, the phase
  // upserts. Counted by hand from the JSON file; its two patch markers are not actions.
  it('counts a recorded provisioning history', () => {
    expect(countActions(recorded('database-lifecycle-1.json'))).toEqual({
      workflowStarts: 1,
      activityStarts: 15,
      activityRetries: 0,
      timers: 1,
      signals: 1,
      childStarts: 0,
      continueAsNew: 0,
      searchAttributeUpserts: 4,
      updates: 0,
      localActivities: 0,
      total: 22,
    });
  });

  it('counts only the events inside a time window', () => {
    const events = recorded('database-lifecycle-3.json');
    const all = countActions(events).total;
    const middle = eventTimeMs(events[Math.floor(events.length / 2)]!);
    const before = countActions(events, { toMs: middle }).total;
    const after = countActions(events, { fromMs: middle }).total;
    expect(before).toBeGreaterThan(0);
    expect(after).toBeGreaterThan(0);
    expect(before + after).toBe(all);
    expect(countActions(events, { fromMs: eventTimeMs(events.at(-1)!) + 1 }).total).toBe(0);
  });

  it('shows the timers a history started (the resync interval)', () => {
    expect(timerDurationsMs(recorded('database-lifecycle-1.json'))).toEqual([600_000]);
  });

  // No recorded history has these yet: retries, a child, continue-as-new, a local activity.
  it('counts every attempt of a retried activity, child starts, continue-as-new and local activities', () => {
    const at = (s: number) => ({ eventTime: { seconds: s, nanos: 0 } });
    const events = [
      { eventId: 1, ...at(1), workflowExecutionStartedEventAttributes: { continuedExecutionRunId: 'r0' } },
      { eventId: 5, ...at(2), activityTaskScheduledEventAttributes: {} },
      { eventId: 6, ...at(9), activityTaskStartedEventAttributes: { scheduledEventId: 5, attempt: 3 } },
      { eventId: 8, ...at(10), startChildWorkflowExecutionInitiatedEventAttributes: {} },
      { eventId: 9, ...at(11), markerRecordedEventAttributes: { markerName: 'core_local_activity' } },
      { eventId: 10, ...at(11), markerRecordedEventAttributes: { markerName: 'core_patch' } },
      { eventId: 11, ...at(12), signalExternalWorkflowExecutionInitiatedEventAttributes: {} },
      { eventId: 12, ...at(13), workflowExecutionUpdateAcceptedEventAttributes: {} },
      { eventId: 13, ...at(14), workflowExecutionContinuedAsNewEventAttributes: {} },
    ];
    // int64 fields are Longs in the generated types; plain numbers are what JSON gives too.
    expect(countActions(events as unknown as Parameters<typeof countActions>[0])).toEqual({
      workflowStarts: 0, // begun by continue-as-new: counted there, in the run before
      activityStarts: 1,
      activityRetries: 2,
      timers: 0,
      signals: 1,
      childStarts: 1,
      continueAsNew: 1,
      searchAttributeUpserts: 0,
      updates: 1,
      localActivities: 1,
      total: 8,
    });
  });
});
