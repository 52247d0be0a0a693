import type { DatabaseSpec } from '../../crds';
import type { SpecUpdate } from '../signals';
import { buildText, sameBuild, withBuild } from './builds';
import { freshState, isGone, newGeneration, runningBuild, supersedes, type State } from './state';
import { settleRecordedUpgrade } from './steps/upgrade';

const spec = { engine: 'postgres', version: '15', replicas: 1 } as DatabaseSpec;
const update = (generation: number, extra: Partial<SpecUpdate> = {}): SpecUpdate => ({
  uid: 'u1',
  generation,
  spec,
  deleting: false,
  ...extra,
});
const state = (extra: Partial<State> = {}): State => ({ ...freshState(), ...extra });

describe('the Database workflow decisions', () => {
  it('sees a new generation until it is handled, and a deletion or a new uid always', () => {
    expect(newGeneration(state())).toBe(false);
    expect(newGeneration(state({ latest: update(1) }))).toBe(true);
    expect(newGeneration(state({ uid: 'u1', latest: update(2), handledGeneration: 2 }))).toBe(false);
    expect(newGeneration(state({ uid: 'u1', latest: update(3), handledGeneration: 2 }))).toBe(true);
    expect(
      newGeneration(state({ uid: 'u1', latest: update(2, { deleting: true }), handledGeneration: 2 })),
    ).toBe(true);
    expect(newGeneration(state({ uid: 'u0', latest: update(1), handledGeneration: 5 }))).toBe(true);
  });

  it('abandons a step when a newer generation, a deletion or another incarnation arrives', () => {
    const working = update(2);
    expect(supersedes(state({ latest: update(2) }), working)).toBe(false);
    expect(supersedes(state({ latest: update(3) }), working)).toBe(true);
    expect(supersedes(state({ latest: update(2, { deleting: true }) }), working)).toBe(true);
    expect(supersedes(state({ latest: update(1, { uid: 'u2' }) }), working)).toBe(true);
    expect(supersedes(state({ latest: update(2), goneUid: 'u1' }), working)).toBe(true);
    expect(supersedes(state(), working)).toBe(true);
  });

  it('is gone only for the incarnation it serves', () => {
    expect(isGone(state({ uid: 'u1', goneUid: 'u1' }))).toBe(true);
    expect(isGone(state({ uid: 'u1', goneUid: 'u1', latest: update(1, { uid: 'u2' }) }))).toBe(false);
    expect(isGone(state({ uid: 'u1' }))).toBe(false);
  });

  it('takes what runs from the recorded build, else from what was applied, else knows nothing', () => {
    expect(runningBuild(state())).toBeUndefined();
    expect(runningBuild(state({ applied: spec }))).toEqual({ version: '15', image: undefined });
    expect(runningBuild(state({ applied: spec, running: { version: '15.4', image: 'x' } }))).toEqual({
      version: '15.4',
      image: 'x',
    });
  });

  it('compares builds by version and image, an absent image being the official one', () => {
    expect(sameBuild({ version: '15' }, { version: '15' })).toBe(true);
    expect(sameBuild({ version: '15', image: '' }, { version: '15' })).toBe(true);
    expect(sameBuild({ version: '15', image: 'a' }, { version: '15' })).toBe(false);
    expect(sameBuild({ version: '16' }, { version: '15' })).toBe(false);
    const target = { namespace: 'n', name: 'd', uid: 'u1', generation: 1, spec };
    expect(withBuild(target, { version: '14', image: 'i' }).spec).toMatchObject({
      version: '14',
      image: 'i',
    });
    expect(buildText('postgres', { version: '15', image: 'reg/pg:15' })).toBe('postgres 15 (reg/pg:15)');
  });

  it('settles the upgrade a terminated run left "Upgrading" by what runs, and keeps a finished one', () => {
    const upgrading = { fromVersion: '15', toVersion: '15.20', state: 'Upgrading', reason: 'upgrading' };
    const done = state();
    settleRecordedUpgrade(done, upgrading, undefined, { version: '15.20' });
    expect(done.status.upgrade).toMatchObject({ state: 'Upgraded', fromVersion: '15', toVersion: '15.20' });
    expect(done.status.conditions).toEqual([
      expect.objectContaining({ type: 'Upgraded', status: 'True', reason: 'Upgraded' }),
    ]);
    // Members still on the build it started from (the StatefulSet records it): not done.
    const halfway = state();
    settleRecordedUpgrade(halfway, upgrading, undefined, { version: '15' });
    expect(halfway.status.upgrade?.state).toBe('Interrupted');
    expect(halfway.status.conditions?.[0]).toMatchObject({ status: 'False', reason: 'UpgradeInterrupted' });
    // An image change within one version cannot be told from its rollback by versions.
    const sameVersion = state();
    settleRecordedUpgrade(sameVersion, { ...upgrading, fromVersion: '15.20' }, undefined, {
      version: '15.20',
    });
    expect(sameVersion.status.upgrade?.state).toBe('Interrupted');
    // A finished one is kept as it was, with its condition.
    const finished = state();
    const condition = {
      type: 'Upgraded',
      status: 'False' as const,
      reason: 'RolledBack',
      message: 'rolled back',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    };
    settleRecordedUpgrade(finished, { ...upgrading, state: 'RolledBack' }, condition, { version: '15' });
    expect(finished.status.upgrade?.state).toBe('RolledBack');
    expect(finished.status.conditions).toEqual([condition]);
  });
});
