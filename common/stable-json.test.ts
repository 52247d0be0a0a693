import { stableJson } from './stable-json';

describe('stableJson', () => {
  it('gives the same text whatever the key order, with dates as ISO strings and undefined dropped', () => {
    expect(stableJson({ b: 1, a: new Date('2026-01-01T10:00:00Z'), c: undefined })).toBe(
      '{"a":"2026-01-01T10:00:00.000Z","b":1}',
    );
    expect(stableJson({ x: [{ b: 2, a: 1 }], y: { d: null, c: 'z' } })).toBe(
      stableJson({ y: { c: 'z', d: null }, x: [{ a: 1, b: 2 }] }),
    );
  });

  it('keeps the order of arrays: a reordered list is a change', () => {
    expect(stableJson([1, 2])).not.toBe(stableJson([2, 1]));
  });
});
