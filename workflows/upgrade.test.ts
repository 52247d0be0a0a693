import { memberGateSeconds, memberLabel, MIN_MEMBER_GATE_SECONDS } from './upgrade';

describe('upgrade gates', () => {
  it('gives each member an equal share of the deadline, never less than the minimum', () => {
    expect(memberGateSeconds(900, 3)).toBe(300);
    expect(memberGateSeconds(900, 1)).toBe(900);
    expect(memberGateSeconds(100, 3)).toBe(33);
    expect(memberGateSeconds(60, 3)).toBe(MIN_MEMBER_GATE_SECONDS);
    expect(memberGateSeconds(60, 5)).toBe(MIN_MEMBER_GATE_SECONDS);
  });

  it('names ordinal 0 the primary and the others replicas', () => {
    expect(memberLabel('orders', 0)).toBe('orders-0 (primary)');
    expect(memberLabel('orders', 2)).toBe('orders-2 (replica)');
  });
});
