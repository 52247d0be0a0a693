import pino from 'pino';
import { failureKind, KeyedSender, type KeyedSenderOptions, type SendResult } from './sender';

/**
 * The KeyedSender with a fake send function (no Temporal): each call is a deferred promise the
 * test settles, so ordering and concurrency are observable; timers are Jest's fake timers.
 */

interface Call {
  key: string;
  payload: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

class NotFound extends Error {
  override name = 'NotFound';
}

function harness(overrides: Partial<KeyedSenderOptions<{ key: string; n: number }>> = {}) {
  const calls: Call[] = [];
  const results: SendResult[] = [];
  const sent: [string, number, number][] = [];
  const permanent: [string, number, string][] = [];
  const givenUp: [string, number][] = [];
  const logs: { level: number; msg: string; n?: number }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => logs.push(JSON.parse(line) as (typeof logs)[number]) },
  );
  const sender = new KeyedSender<{ key: string; n: number }>({
    what: 'test send',
    logger,
    send: ({ key, n }, signal) =>
      new Promise<void>((resolve, reject) => {
        const call: Call = { key, payload: n, resolve, reject };
        calls.push(call);
        signal.addEventListener('abort', () => {
          Object.assign(call, { done: true });
          reject(new Error('aborted'));
        });
      }),
    permanent: (err) => (err instanceof NotFound ? 'no-workflow' : undefined),
    backoff: { initialMs: 100, maxMs: 1_000 },
    concurrency: 2,
    logFields: ({ n }) => ({ n }),
    onResult: (r) => results.push(r),
    onSent: (key, p, _v, attempts) => sent.push([key, p.n, attempts]),
    onPermanent: (key, p, r) => permanent.push([key, p.n, r]),
    onGiveUp: (key, p) => givenUp.push([key, p.n]),
    ...overrides,
  });
  sender.start();
  const submit = (key: string, n: number) => sender.submit(key, { key, n });
  const inFlight = () => calls.filter((c) => !('done' in c));
  /** Settles the oldest open call (of `key`, if given). */
  const settle = async (how: 'ok' | Error, key?: string) => {
    const i = calls.findIndex((c) => !('done' in c) && (key === undefined || c.key === key));
    if (i < 0) throw new Error(`no open call${key ? ` for ${key}` : ''}`);
    const call = calls[i]!;
    Object.assign(call, { done: true });
    if (how === 'ok') call.resolve();
    else call.reject(how);
    await flush();
  };
  const warnings = (msg: string) => logs.filter((l) => l.level === 40 && l.msg === msg);
  return { sender, calls, results, sent, permanent, givenUp, logs, submit, inFlight, settle, warnings };
}

/** Lets promise callbacks run (the fake timers leave microtasks alone). */
const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('KeyedSender', () => {
  it('coalesces a key: the newest payload supersedes the ones waiting, the sent one is not sent again', async () => {
    const h = harness();
    h.submit('a', 1);
    expect(h.inFlight().map((c) => c.payload)).toEqual([1]);
    h.submit('a', 2);
    h.submit('a', 3);
    expect(h.sender.pending('a')).toEqual({ key: 'a', n: 3 });
    await h.settle('ok');
    // 2 was never sent: 3 went right after 1.
    expect(h.inFlight().map((c) => c.payload)).toEqual([3]);
    await h.settle('ok');
    expect(h.calls.map((c) => c.payload)).toEqual([1, 3]);
    expect(h.sent).toEqual([
      ['a', 1, 1],
      ['a', 3, 1],
    ]);
    expect(h.sender.size).toBe(0);
    expect(h.results).toEqual(['sent', 'sent']);
  });

  it('debounces: a burst within the quiet time yields one send of the last payload', async () => {
    const h = harness({ debounceMs: 500 });
    h.submit('a', 1);
    jest.advanceTimersByTime(400);
    h.submit('a', 2);
    jest.advanceTimersByTime(400);
    expect(h.calls).toHaveLength(0);
    jest.advanceTimersByTime(100);
    expect(h.calls.map((c) => c.payload)).toEqual([2]);
  });

  it('retries a transient failure with backoff until it is sent, logging the failure once', async () => {
    const h = harness();
    h.submit('a', 1);
    for (let i = 0; i < 3; i++) {
      await h.settle(new Error('connect ECONNREFUSED 127.0.0.1:7233'));
      expect(h.inFlight()).toHaveLength(0);
      jest.advanceTimersByTime(100 * 2 ** i * 1.2); // the backoff, jitter included
      expect(h.inFlight()).toHaveLength(1);
    }
    await h.settle('ok');
    expect(h.results).toEqual(['failed', 'failed', 'failed', 'sent']);
    expect(h.sent).toEqual([['a', 1, 4]]);
    // Once per failure state: the same error again is logged at debug level only.
    expect(h.warnings('test send failed, will retry')).toHaveLength(1);
    expect(h.logs.filter((l) => l.msg === 'test send failed, will retry')).toHaveLength(3);
  });

  it('logs again when the failing payload or the kind of error changes', async () => {
    const h = harness();
    h.submit('a', 1);
    await h.settle(new Error('connect ECONNREFUSED'));
    h.submit('a', 2); // waits for the backoff running: Temporal is failing
    jest.advanceTimersByTime(50);
    expect(h.inFlight()).toHaveLength(0);
    jest.advanceTimersByTime(100);
    expect(h.inFlight().map((c) => c.payload)).toEqual([2]);
    await h.settle(new Error('connect ECONNREFUSED'));
    jest.advanceTimersByTime(300);
    await h.settle(new Error('deadline exceeded'));
    expect(h.warnings('test send failed, will retry').map((l) => l.n)).toEqual([1, 2, 2]);
  });

  it('ends a key on a permanent failure, reporting its result, and does not retry it', async () => {
    const h = harness();
    h.submit('a', 1);
    await h.settle(new NotFound('no such workflow'));
    jest.advanceTimersByTime(10_000);
    expect(h.calls).toHaveLength(1);
    expect(h.results).toEqual(['no-workflow']);
    expect(h.permanent).toEqual([['a', 1, 'no-workflow']]);
    expect(h.sender.size).toBe(0);
  });

  it('gives a payload up after maxAttempts; a newer payload gets attempts of its own', async () => {
    const h = harness({ maxAttempts: 2 });
    h.submit('a', 1);
    await h.settle(new Error('unavailable'));
    h.submit('a', 2); // supersedes 1 before its second attempt
    jest.advanceTimersByTime(1_000);
    await h.settle(new Error('unavailable'));
    jest.advanceTimersByTime(1_000);
    await h.settle(new Error('unavailable'));
    expect(h.calls.map((c) => c.payload)).toEqual([1, 2, 2]);
    expect(h.givenUp).toEqual([['a', 2]]);
    expect(h.warnings('test send given up')).toHaveLength(1);
    jest.advanceTimersByTime(10_000);
    expect(h.calls).toHaveLength(3);
    expect(h.sender.size).toBe(0);
  });

  it('keeps the order per key: one call in flight per key, the next payload after it', async () => {
    const h = harness({ concurrency: 10 });
    h.submit('a', 1);
    h.submit('b', 1);
    h.submit('a', 2);
    expect(h.inFlight().map((c) => `${c.key}${c.payload}`)).toEqual(['a1', 'b1']);
    await h.settle('ok', 'b');
    expect(h.inFlight().map((c) => `${c.key}${c.payload}`)).toEqual(['a1']);
    // A failure of a1 does not let a2 overtake: a2 is what the retry sends.
    await h.settle(new Error('unavailable'), 'a');
    jest.advanceTimersByTime(200);
    expect(h.inFlight().map((c) => `${c.key}${c.payload}`)).toEqual(['a2']);
    await h.settle('ok', 'a');
    expect(h.sent.map(([k, n]) => `${k}${n}`)).toEqual(['b1', 'a2']);
  });

  it('bounds the calls in flight; the queued keys go in submit order as slots free', async () => {
    const h = harness({ concurrency: 2 });
    for (const key of ['a', 'b', 'c', 'd']) h.submit(key, 1);
    expect(h.inFlight().map((c) => c.key)).toEqual(['a', 'b']);
    h.submit('c', 2); // superseded while queued: still one send for c, of 2
    await h.settle('ok', 'b');
    expect(h.inFlight().map((c) => `${c.key}${c.payload}`)).toEqual(['a1', 'c2']);
    await h.settle('ok', 'a');
    await h.settle('ok', 'c');
    await h.settle('ok', 'd');
    expect(h.calls.map((c) => c.key)).toEqual(['a', 'b', 'c', 'd']);
    expect(h.sender.size).toBe(0);
  });

  it('cancel(key) drops a key: no retry, and its call in flight is not reported as sent', async () => {
    const h = harness();
    h.submit('a', 1);
    h.sender.cancel('a');
    await h.settle('ok');
    expect(h.sent).toEqual([]);
    expect(h.results).toEqual(['sent']); // the call itself did happen (metrics)
    h.submit('b', 1);
    await h.settle(new Error('unavailable'));
    h.sender.cancel('b');
    jest.advanceTimersByTime(10_000);
    expect(h.calls).toHaveLength(2);
  });

  it('stop() aborts the calls in flight (cancelled) and drops what waits; start() sends anew', async () => {
    const h = harness({ concurrency: 1 });
    h.submit('a', 1);
    h.submit('b', 1);
    await h.sender.stop();
    expect(h.results).toEqual(['cancelled']);
    expect(h.sender.size).toBe(0);
    expect(h.submit('a', 2)).toBe(false);
    h.sender.start();
    h.submit('a', 2);
    expect(h.inFlight().map((c) => `${c.key}${c.payload}`)).toEqual(['a2']);
  });
});

describe('failureKind', () => {
  it('tells errors apart by name and code, not by the numbers in their message', () => {
    const grpc = Object.assign(new Error('Failed: 14 UNAVAILABLE'), {
      name: 'ServiceError',
      cause: { code: 14 },
    });
    expect(failureKind(grpc)).toBe('ServiceError:14');
    expect(failureKind(new Error('timed out after 3000 ms'))).toBe(
      failureKind(new Error('timed out after 20 ms')),
    );
    expect(failureKind(new Error('a'))).not.toBe(failureKind(new TypeError('a')));
  });
});
