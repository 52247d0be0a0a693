import type { Engine } from './database';
import { ALLOWED_PARAMETERS, type SettingType } from './parameters';

/**
 * Values on both sides of every setting's bounds and grammar, derived from its type: the unit
 * test checks the TypeScript rules with them, the integration test applies them to the API
 * server, so the CEL rules and their TypeScript mirror are compared on every setting.
 */
export interface Samples {
  valid: string[];
  invalid: string[];
}

const KB = 1024;

export function samplesOf(engine: Engine, type: SettingType): Samples {
  const pg = engine === 'postgres';
  const special = 'special' in type && type.special ? [...type.special] : [];
  switch (type.kind) {
    case 'integer':
      return {
        valid: [String(type.min), String(type.max), ...special],
        invalid: [
          String(type.max + 1),
          ...(type.min > 0 ? [String(type.min - 1)] : special.includes('-1') ? ['-2'] : ['-1']),
          '1.5',
          'ten',
          '',
        ],
      };
    case 'real':
      return {
        valid: [String(type.min), String(type.max), String((type.min + type.max) / 2)],
        invalid: [String(type.max + 1), '-1', '1e3', 'x'],
      };
    case 'boolean':
      return pg
        ? { valid: ['on', 'OFF', 'true', 'no', '1'], invalid: ['maybe', '', '2'] }
        : { valid: ['ON', 'off', 'TRUE', '0', ''], invalid: ['yes', '2'] };
    case 'enum':
      return {
        valid: [type.values[0]!, type.values.at(-1)!.toUpperCase()],
        invalid: ['bogus', `${type.values[0]!} `],
      };
    case 'text':
      return {
        valid: [type.example],
        invalid: [`${type.example}\nfsync = off`, 'x'.repeat(type.maxLength + 1)],
      };
    case 'size':
      return pg ? postgresSizes(type) : mysqlSizes(type);
    case 'duration': {
      // The grammar takes at most 15 digits.
      const us = (ms: number) => (String(ms * 1000).length <= 15 ? [`${ms * 1000}us`] : []);
      return {
        valid: [`${type.min}ms`, `${type.max}ms`, ...us(type.max), String(type.min / type.base), ...special],
        invalid: [
          `${type.max + 1}ms`,
          ...us(type.max + 1),
          ...(type.min > 0 ? [`${type.min - 1}ms`] : []),
          '5 s',
          '1w',
          '1.5s',
        ],
      };
    }
  }
}

function postgresSizes(type: Extract<SettingType, { kind: 'size' }>): Samples {
  const base = type.base ?? KB;
  const special = type.special ? [...type.special] : [];
  return {
    valid: [`${type.min / KB}kB`, `${type.max / KB}kB`, String(Math.ceil(type.min / base)), ...special],
    invalid: [
      `${type.max / KB + 1}kB`,
      ...(type.min > 0 ? [`${type.min / KB - 1}kB`] : []),
      '8mb',
      '1.5GB',
      '10XB',
      '1 GB',
    ],
  };
}

function mysqlSizes(type: Extract<SettingType, { kind: 'size' }>): Samples {
  const mb = Math.max(1, Math.ceil(type.min / (KB * KB)));
  return {
    valid: [String(type.min), String(type.max), `${mb}M`, `${mb}m`, `${Math.ceil(type.min / KB)}K`],
    invalid: [String(type.max + 1), ...(type.min > 0 ? [String(type.min - 1)] : []), '1T', '1.5G', '-1'],
  };
}

/** Every (setting, value) of an engine's list, valid ones and invalid ones. */
export function allSamples(engine: Engine): { name: string; valid: string[]; invalid: string[] }[] {
  return Object.entries(ALLOWED_PARAMETERS[engine]).map(([name, type]) => ({
    name,
    ...samplesOf(engine, type),
  }));
}
