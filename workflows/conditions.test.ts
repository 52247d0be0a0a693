import { setCondition } from './conditions';

describe('setCondition', () => {
  const t1 = new Date('2026-01-01T00:00:00.123Z');
  const t2 = new Date('2026-01-01T00:05:00Z');

  it('keeps lastTransitionTime while the status stays, and moves it when the status changes', () => {
    let c = setCondition([], { type: 'Ready', status: 'False', reason: 'Provisioning', message: 'a' }, 1, t1);
    expect(c).toEqual([
      expect.objectContaining({ lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 }),
    ]);
    c = setCondition(c, { type: 'Ready', status: 'False', reason: 'Updating', message: 'b' }, 2, t2);
    expect(c[0]).toMatchObject({
      reason: 'Updating',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 2,
    });
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'Ready', message: 'c' }, 2, t2);
    expect(c[0]).toMatchObject({ status: 'True', lastTransitionTime: '2026-01-01T00:05:00Z' });
  });

  it('keeps one entry per type, sorted by type', () => {
    let c = setCondition([], { type: 'Ready', status: 'True', reason: 'r', message: 'm' }, 1, t1);
    c = setCondition(c, { type: 'ConfigMapReady', status: 'True', reason: 'r', message: 'm' }, 1, t1);
    c = setCondition(c, { type: 'Ready', status: 'False', reason: 'r', message: 'm' }, 1, t1);
    expect(c.map((x) => x.type)).toEqual(['ConfigMapReady', 'Ready']);
  });
});
