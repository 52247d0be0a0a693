import { checkSpec } from '../crds/spec-rules';
import { keepsPrimary } from './spec-check';

describe('keepsPrimary', () => {
  const verdict = (replicas: number) => checkSpec({ engine: 'postgres', version: '17', replicas }, undefined);

  it('refuses a scale-down that would remove the primary, saying how many members to keep', () => {
    expect(keepsPrimary(verdict(2), 'orders', { primary: 2 })).toEqual({
      ok: false,
      reason: 'PrimaryWouldBeRemoved',
      message:
        'replicas: 2 would remove orders-2, the primary (a scale-down removes the highest ordinals first): keep at least 3 members while orders-2 is the primary',
    });
  });

  it('counts the member a failover is promoting as the primary', () => {
    expect(keepsPrimary(verdict(2), 'orders', { primary: 0, targetPrimary: 2 }).ok).toBe(false);
  });

  it('lets through a scale that keeps the primary, a Database without a record, and a refused spec as it was', () => {
    expect(keepsPrimary(verdict(2), 'orders', { primary: 1 }).ok).toBe(true);
    expect(keepsPrimary(verdict(1), 'orders', undefined).ok).toBe(true);
    const refused = checkSpec({ engine: 'postgres', version: 'x' }, undefined);
    expect(keepsPrimary(refused, 'orders', { primary: 3 })).toBe(refused);
  });
});
