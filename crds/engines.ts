/**
 * `mariadb` is MariaDB (10.11, 11.x: its own SQL dialect, config options and command names);
 * `mysql` is Oracle MySQL 8.0 / 8.4. They share a wire protocol and a client, not a dialect.
 */
export const ENGINES = ['postgres', 'mariadb', 'mysql'] as const;
export type Engine = (typeof ENGINES)[number];

/**
 * The `default` of every `switch` on the engine: with `engine: never` there, adding an engine
 * makes the compiler point at each switch that does not handle it yet.
 */
export function unknownEngine(engine: never): never {
  throw new Error(`unknown engine ${String(engine)}`);
}
