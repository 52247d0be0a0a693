import { cancelRequested } from './cancel-upgrade';

describe('cancelRequested', () => {
  const db = (annotations?: Record<string, string>) => ({
    metadata: { name: 'orders', namespace: 'shop', uid: 'u1', annotations },
  });
  it('is true whatever the annotation’s value, false without it', () => {
    expect(cancelRequested(db({ 'durable.dev/cancel-upgrade': 'true' }))).toBe(true);
    expect(cancelRequested(db({ 'durable.dev/cancel-upgrade': '' }))).toBe(true);
    expect(cancelRequested(db({ 'durable.dev/retry': '1' }))).toBe(false);
    expect(cancelRequested(db())).toBe(false);
  });
});
