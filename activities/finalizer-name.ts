/** Finalizer the operator puts on every Database (DESIGN.md, fixed names). */
export const FINALIZER = 'durable.dev/finalizer';
