/**
 * The flags the container image starts node with (Dockerfile ENTRYPOINT; test/static/dockerfile
 * checks that they are these), and the cost benchmark its worker and watcher.
 *
 * `--max-semi-space-size=2` (MiB): V8's young generation grows to 16 MiB per semi-space by default,
 * in each isolate (the worker has two: its main thread and the workflow thread). The operator's
 * allocations are short-lived and small (API objects, activations), so a 2 MiB nursery costs a
 * few more scavenges and saves about 45 MiB of the worker's and 35 MiB of the watcher's resident
 * memory (README "Memory and CPU").
 */
export const NODE_FLAGS = ['--max-semi-space-size=2'] as const;
