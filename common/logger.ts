import pino from 'pino';

/**
 * JSON logs (pino). Field names that could carry credentials are redacted as a second line of
 * defence: no code path is meant to log them in the first place.
 */
export function createLogger(level: string, name: string): pino.Logger {
  return pino({
    name,
    level,
    base: { component: name },
    redact: {
      paths: [
        'password',
        '*.password',
        'apiKey',
        '*.apiKey',
        'token',
        '*.token',
        'data',
        '*.data',
        'stringData',
        '*.stringData',
      ],
      censor: '[redacted]',
    },
  });
}

export type Logger = pino.Logger;
