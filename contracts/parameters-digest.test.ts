import { parametersDigest, splitParameters } from './parameters-digest';

describe('parameters by reference', () => {
  it('digests parameters independently of their order, and tells values apart', () => {
    const a = parametersDigest({ work_mem: '8MB', max_connections: '100' });
    expect(parametersDigest({ max_connections: '100', work_mem: '8MB' })).toBe(a);
    expect(parametersDigest({ max_connections: '101', work_mem: '8MB' })).not.toBe(a);
    // Names and values cannot be shifted into one another.
    expect(parametersDigest({ a: 'b,c' })).not.toBe(parametersDigest({ 'a,b': 'c' }));
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('takes the parameters out of a spec and leaves the rest as it is', () => {
    const spec = { engine: 'postgres', version: '17', parameters: { work_mem: '8MB' } };
    const split = splitParameters(spec);
    expect(split.spec).toEqual({ engine: 'postgres', version: '17' });
    expect(split.parametersDigest).toBe(parametersDigest({ work_mem: '8MB' }));
    expect(spec.parameters).toEqual({ work_mem: '8MB' }); // not mutated
    // An empty map still has a digest: the activity then renders none.
    expect(splitParameters({ engine: 'postgres', parameters: {} }).parametersDigest).toBe(
      parametersDigest({}),
    );
  });

  it('sends a spec without parameters, or one that does not parse, as it is', () => {
    expect(splitParameters({ engine: 'postgres' })).toEqual({ spec: { engine: 'postgres' } });
    expect(splitParameters('nonsense')).toEqual({ spec: 'nonsense' });
    expect(splitParameters(undefined)).toEqual({ spec: undefined });
    const odd = { engine: 'postgres', parameters: ['x'] };
    expect(splitParameters(odd)).toEqual({ spec: odd });
  });
});
