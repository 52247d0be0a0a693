import pino from 'pino';

/**
 * JSON logs (pino). Field names that could carry credentials are redacted as a second line of
 * defence: no code path is meant to log them in the first place.
 */
export function createLogger(level: string, name: string, file?: string): pino.Logger {
  const options: pino.LoggerOptions = {
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
  };
  // A file instead of stdout where a terminal shows progress lines of its own (`npm run dev`).
  return file ? pino(options, pino.destination({ dest: file, mkdir: true, sync: false })) : pino(options);
}

export type Logger = pino.Logger;
