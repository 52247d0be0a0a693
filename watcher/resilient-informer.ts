import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../common/logger';
import { backoffDelay, DEFAULT_BACKOFF, describeError, withTimeout, type BackoffOptions } from './timing';

/**
 * An informer that keeps running: client-node 1.x's ListWatch (what `makeInformer` builds)
 * re-lists on 410 Gone by itself, but stops for good on any other error, and a watch has no
 * client-side timeout, so a half-open connection would hang silently. This wrapper
 *
 * - restarts a fresh ListWatch after any error, with exponential backoff;
 * - restarts when nothing arrived for `watchdogMs` (the watchdog): no event, no bookmark (asked
 *   for, though a quiet resource may get none) and no reconnect. Each watch asks the server to
 *   end it after 60 % of that period, and ListWatch then re-watches from its resourceVersion
 *   (cheap, no list), so a healthy but quiet watch shows life in time and only a silent one,
 *   e.g. half-open, trips the watchdog; the initial list is bounded by `listTimeoutMs`;
 * - keeps its own cache across restarts, so a restart's initial list becomes `update` for objects
 *   that changed while it was away and `delete` for objects that disappeared meanwhile (a fresh
 *   ListWatch alone would report everything as `add` and never report what it missed);
 * - hands the old object to `update`, which ListWatch does not;
 * - ignores every callback of a ListWatch it has given up on (an aborted watch still reports
 *   an error), and wraps every handler in try/catch (a throw inside a ListWatch callback is
 *   swallowed or becomes an unhandled rejection).
 *
 * Handlers may see an object again after a restart (re-delivered as `add` only if it was not in
 * the cache); consumers must be idempotent, which the watcher's are (generation memory, drift
 * filters).
 */

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(obj: T, old: T): void;
  delete?(obj: T): void;
}

/** One add, update or delete an informer delivered to its handlers (for metrics). */
export interface InformerEvent<T = k8s.KubernetesObject> {
  /** The informer's name, `<resource>/<namespace or *>`. */
  informer: string;
  type: 'add' | 'update' | 'delete';
  object: T;
  old?: T;
}

export interface ResilientInformerOptions<Raw extends k8s.KubernetesObject, T extends k8s.KubernetesObject> {
  /** For logs, e.g. `databases (all namespaces)`. */
  name: string;
  kubeConfig: k8s.KubeConfig;
  /** Watch path, e.g. `/apis/durable.dev/v1alpha1/namespaces/shop/databases`. */
  path: string;
  /** The list call matching `path` (and `labelSelector`). */
  list: () => Promise<k8s.KubernetesListObject<Raw>>;
  labelSelector?: string;
  /**
   * Reduces an object to what the handlers need before it is cached or handed on (e.g. to drop
   * a Secret's data). Must keep `metadata.name`, `namespace`, `uid` and `resourceVersion`.
   */
  transform?: (obj: Raw) => T;
  handlers: InformerHandlers<T>;
  logger: Logger;
  /** Restart when nothing (event, bookmark) arrived for this long. Default 5 min. */
  watchdogMs?: number;
  /** Bound on the initial list. Default 60 s. */
  listTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Called on every event or bookmark (for the watcher's `lastEventAt`). */
  onActivity?: () => void;
  /** Called before each handler call (for metrics); a throw is logged and ignored. */
  onEvent?: (event: InformerEvent<T>) => void;
}

export const DEFAULT_WATCHDOG_MS = 5 * 60_000;
const DEFAULT_LIST_TIMEOUT_MS = 60_000;
/** An instance that lived this long before failing starts the backoff from scratch. */
const HEALTHY_AFTER_MS = 60_000;

/**
 * A Watch that requests bookmarks and a server-side timeout, and reports every line it receives
 * (events and bookmarks).
 */
class ObservedWatch extends k8s.Watch {
  constructor(
    config: k8s.KubeConfig,
    private readonly timeoutSeconds: number,
    private readonly onLine: () => void,
  ) {
    super(config);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      { timeoutSeconds: this.timeoutSeconds, ...queryParams, allowWatchBookmarks: true },
      (phase, apiObj, watchObj) => {
        this.onLine();
        callback(phase, apiObj, watchObj);
      },
      done,
    );
  }
}

function keyOf(obj: k8s.KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export class ResilientInformer<Raw extends k8s.KubernetesObject, T extends k8s.KubernetesObject = Raw> {
  private readonly cache = new Map<string, T>();
  private current?: k8s.ListWatch<Raw>;
  private currentStartedAt = 0;
  private listed = false;
  private started = false;
  private failures = 0;
  private recovering = false;
  private lastActivity = 0;
  private restartTimer?: NodeJS.Timeout;
  private watchdogTimer?: NodeJS.Timeout;
  private restartCount = 0;
  private readonly log: Logger;
  private readonly watchdogMs: number;

  constructor(private readonly opts: ResilientInformerOptions<Raw, T>) {
    this.log = opts.logger.child({ informer: opts.name });
    this.watchdogMs = opts.watchdogMs ?? DEFAULT_WATCHDOG_MS;
  }

  /** True while a ListWatch is running and has completed its initial list. */
  get running(): boolean {
    return this.started && this.current !== undefined && this.listed;
  }

  /** The objects in the cache, as the handlers last saw them. */
  list(): T[] {
    return [...this.cache.values()];
  }

  /** How often the informer was restarted (errors and watchdog). */
  get restarts(): number {
    return this.restartCount;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.failures = 0;
    this.launch();
    const every = Math.max(50, Math.min(30_000, Math.floor(this.watchdogMs / 4)));
    this.watchdogTimer = setInterval(() => this.checkWatchdog(), every);
    this.watchdogTimer.unref();
  }

  /** Stops watching and forgets the cache (a later start begins from a fresh list). */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.watchdogTimer);
    clearTimeout(this.restartTimer);
    const inst = this.current;
    this.current = undefined;
    this.cache.clear();
    if (inst) await this.stopQuietly(inst);
  }

  private launch(): void {
    if (!this.started) return;
    const { kubeConfig, path, labelSelector } = this.opts;
    let inst: k8s.ListWatch<Raw> | undefined = undefined;
    const isCurrent = () => inst !== undefined && inst === this.current && this.started;
    const watchTimeoutSeconds = Math.max(1, Math.round((this.watchdogMs * 0.6) / 1000));
    const watch = new ObservedWatch(kubeConfig, watchTimeoutSeconds, () => {
      if (isCurrent()) this.activity();
    });
    const list = async (): Promise<k8s.KubernetesListObject<Raw>> => {
      const result = await withTimeout(
        this.opts.list(),
        this.opts.listTimeoutMs ?? DEFAULT_LIST_TIMEOUT_MS,
        'list',
      );
      if (isCurrent()) this.reconcileList(result.items ?? []);
      return result;
    };
    inst = new k8s.ListWatch<Raw>(path, watch, list, false, labelSelector);
    inst.on(k8s.ADD, (obj) => isCurrent() && this.upsert(obj));
    inst.on(k8s.UPDATE, (obj) => isCurrent() && this.upsert(obj));
    inst.on(k8s.DELETE, (obj) => isCurrent() && this.remove(obj));
    inst.on(k8s.CONNECT, () => {
      if (isCurrent()) this.activity(false);
    });
    inst.on(k8s.ERROR, (err) => {
      if (isCurrent()) this.failed(err);
    });
    this.current = inst;
    this.currentStartedAt = Date.now();
    this.listed = false;
    this.lastActivity = Date.now();
    this.log.debug({ path, labelSelector }, 'informer starting');
    const started = inst;
    started.start().then(
      // A watch that connected only after we gave up on it (e.g. after a watchdog restart) must
      // not linger: ListWatch.stop() cannot abort a request that had not connected yet.
      () => {
        if (!isCurrent()) void this.stopQuietly(started);
      },
      (err: unknown) => {
        if (isCurrent()) this.failed(err);
      },
    );
  }

  private activity(event = true): void {
    this.lastActivity = Date.now();
    if (event) this.opts.onActivity?.();
  }

  /** The initial list of a (re)started ListWatch: report what vanished while we were away. */
  private reconcileList(items: Raw[]): void {
    this.activity();
    const present = new Set(items.map(keyOf));
    for (const [key, old] of [...this.cache]) {
      if (!present.has(key)) {
        this.cache.delete(key);
        this.deliver('delete', old);
      }
    }
    this.listed = true;
    if (this.recovering) {
      this.recovering = false;
      this.log.info({ afterFailures: this.failures }, 'informer listed again');
    }
  }

  private upsert(raw: Raw): void {
    let obj: T;
    try {
      obj = this.opts.transform ? this.opts.transform(raw) : (raw as unknown as T);
    } catch (err) {
      this.log.error({ ...describeError(err), object: keyOf(raw) }, 'informer transform failed');
      return;
    }
    const key = keyOf(obj);
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (!old) {
      this.deliver('add', obj);
    } else if (old.metadata?.uid !== obj.metadata?.uid) {
      // Deleted and re-created under the same name while we were not watching.
      this.deliver('delete', old);
      this.deliver('add', obj);
    } else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
      this.deliver('update', obj, old);
    }
  }

  private remove(raw: Raw): void {
    const key = keyOf(raw);
    const old = this.cache.get(key);
    if (!old) return; // already reported by reconcileList
    this.cache.delete(key);
    this.deliver('delete', old);
  }

  private deliver(type: InformerEvent['type'], object: T, old?: T): void {
    const { handlers, onEvent } = this.opts;
    if (onEvent)
      this.call(`${type} event hook`, () => onEvent({ informer: this.opts.name, type, object, old }));
    if (type === 'add') this.call(type, () => handlers.add?.(object));
    else if (type === 'update') this.call(type, () => handlers.update?.(object, old!));
    else this.call(type, () => handlers.delete?.(object));
  }

  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ ...describeError(err), handler: what }, 'informer handler threw');
    }
  }

  private failed(err: unknown): void {
    if (Date.now() - this.currentStartedAt > HEALTHY_AFTER_MS) this.failures = 0;
    this.failures++;
    this.recovering = true;
    const delay = backoffDelay(this.failures, this.opts.backoff ?? DEFAULT_BACKOFF);
    this.log.warn(
      { ...describeError(err), attempt: this.failures, retryInMs: delay },
      'informer failed, restarting',
    );
    this.restart(delay);
  }

  private checkWatchdog(): void {
    if (!this.started || !this.current) return;
    const silentMs = Date.now() - this.lastActivity;
    if (silentMs < this.watchdogMs) return;
    this.log.warn({ silentMs }, 'no event or bookmark within the watchdog period, re-listing');
    this.restart(0);
  }

  private restart(delayMs: number): void {
    const old = this.current;
    this.current = undefined;
    this.listed = false;
    this.restartCount++;
    if (old) void this.stopQuietly(old);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => this.launch(), delayMs);
  }

  private async stopQuietly(inst: k8s.ListWatch<Raw>): Promise<void> {
    try {
      await inst.stop();
    } catch (err) {
      this.log.debug(describeError(err), 'stopping a ListWatch failed');
    }
  }
}
