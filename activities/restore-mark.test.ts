import { parseEngineBuild } from './database-objects';
import { parseRestoreMark } from './restore-mark';

describe('records read back from the cluster', () => {
  it('reads a restore mark, and treats anything malformed as absent', () => {
    expect(parseRestoreMark('{"backup":"b1","state":"done"}')).toEqual({ backup: 'b1', state: 'done' });
    expect(parseRestoreMark('{"backup":"b1","state":"started","run":"r"}')).toEqual({
      backup: 'b1',
      state: 'started',
      run: 'r',
    });
    for (const bad of [
      undefined,
      '',
      'done',
      '{"backup":1,"state":"done"}',
      '{"backup":"b","state":"maybe"}',
    ])
      expect(parseRestoreMark(bad)).toBeUndefined();
  });

  it('reads the engine build of a StatefulSet', () => {
    expect(parseEngineBuild('{"version":"15"}')).toEqual({ version: '15' });
    expect(parseEngineBuild('{"version":"15","image":"r/pg:15"}')).toEqual({
      version: '15',
      image: 'r/pg:15',
    });
    for (const bad of [undefined, '{}', '{"version":""}', 'x']) expect(parseEngineBuild(bad)).toBeUndefined();
  });
});
