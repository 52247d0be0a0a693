import type { WorkflowHandle } from '@temporalio/client';

/**
 * Temporal actions (the unit Temporal Cloud bills by) counted from workflow histories: what a
 * Database costs in Temporal, to Ready and at rest. Pure: histories in, counts out.
 *
 * Counted, one action each: a workflow start (by a client, SignalWithStart included, or a child
 * start; a run begun by continue-as-new is counted as its continue-as-new instead), every activity
 * attempt (first tries and retries apart), timers, signals received and sent, child workflow
 * starts, continue-as-new, search-attribute upserts, accepted updates, and local activities (their
 * markers). Patch markers (`patched()`) are not actions. Queries leave no trace in a history, so
 * they cannot be counted here; the bench makes none and the operator's path to Ready makes none.
 */
type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

export interface ActionCounts {
  workflowStarts: number;
  activityStarts: number;
  activityRetries: number;
  timers: number;
  signals: number;
  childStarts: number;
  continueAsNew: number;
  searchAttributeUpserts: number;
  updates: number;
  localActivities: number;
  total: number;
}

export function noActions(): ActionCounts {
  return {
    workflowStarts: 0,
    activityStarts: 0,
    activityRetries: 0,
    timers: 0,
    signals: 0,
    childStarts: 0,
    continueAsNew: 0,
    searchAttributeUpserts: 0,
    updates: 0,
    localActivities: 0,
    total: 0,
  };
}

/** Milliseconds since the epoch of an event (int64 seconds may come as a number or a Long). */
export function eventTimeMs(e: HistoryEvent): number {
  const t = e.eventTime;
  if (!t) return NaN;
  const s = t.seconds as number | { toNumber(): number } | null | undefined;
  const seconds = typeof s === 'number' ? s : (s?.toNumber() ?? 0);
  return seconds * 1000 + (t.nanos ?? 0) / 1e6;
}

/** Local activities record a marker of this name (the TypeScript SDK's core). */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/**
 * Counts the actions of one run's events whose time is in [fromMs, toMs) (all of them by default).
 * An activity's attempts are counted at its scheduling: the history keeps only the last attempt's
 * start, whose `attempt` says how many there were.
 */
export function countActions(
  events: readonly HistoryEvent[],
  { fromMs = -Infinity, toMs = Infinity }: { fromMs?: number; toMs?: number } = {},
): ActionCounts {
  const attempts = new Map<string, number>();
  for (const e of events) {
    const started = e.activityTaskStartedEventAttributes;
    if (started) attempts.set(String(started.scheduledEventId), started.attempt ?? 1);
  }
  const c = noActions();
  for (const e of events) {
    const at = eventTimeMs(e);
    if (!(at >= fromMs && at < toMs)) continue;
    if (e.workflowExecutionStartedEventAttributes) {
      if (!e.workflowExecutionStartedEventAttributes.continuedExecutionRunId) c.workflowStarts++;
    } else if (e.activityTaskScheduledEventAttributes) {
      const n = attempts.get(String(e.eventId)) ?? 1;
      c.activityStarts++;
      c.activityRetries += n - 1;
    } else if (e.timerStartedEventAttributes) c.timers++;
    else if (e.workflowExecutionSignaledEventAttributes) c.signals++;
    else if (e.signalExternalWorkflowExecutionInitiatedEventAttributes) c.signals++;
    else if (e.startChildWorkflowExecutionInitiatedEventAttributes) c.childStarts++;
    else if (e.workflowExecutionContinuedAsNewEventAttributes) c.continueAsNew++;
    else if (e.upsertWorkflowSearchAttributesEventAttributes) c.searchAttributeUpserts++;
    else if (e.workflowExecutionUpdateAcceptedEventAttributes) c.updates++;
    else if (e.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER) c.localActivities++;
  }
  c.total =
    c.workflowStarts +
    c.activityStarts +
    c.activityRetries +
    c.timers +
    c.signals +
    c.childStarts +
    c.continueAsNew +
    c.searchAttributeUpserts +
    c.updates +
    c.localActivities;
  return c;
}

export function addActions(a: ActionCounts, b: ActionCounts): ActionCounts {
  const out = noActions();
  for (const k of Object.keys(out) as (keyof ActionCounts)[]) out[k] = a[k] + b[k];
  return out;
}

/** The durations (ms) of the timers a history started, e.g. to show the resync interval. */
export function timerDurationsMs(events: readonly HistoryEvent[]): number[] {
  const out: number[] = [];
  for (const e of events) {
    const d = e.timerStartedEventAttributes?.startToFireTimeout;
    if (!d) continue;
    const s = d.seconds as number | { toNumber(): number } | null | undefined;
    out.push((typeof s === 'number' ? s : (s?.toNumber() ?? 0)) * 1000 + (d.nanos ?? 0) / 1e6);
  }
  return out;
}
