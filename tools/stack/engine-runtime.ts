import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { engineProfile } from '../../activities/manifests/engines';
import { POD_INDEX_LABEL } from '../../activities/manifests/labels';
import { CONTAINER_NAME } from '../../activities/manifests/names';
import { LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, OPERATOR_NAME } from '../../crds';
import { backoffDelay, describeError, withTimeout } from '../../watcher/timing';
import {
  engineAccount,
  postgresBinary,
  startLocalMariadb,
  startLocalPostgres,
  type Account,
  type LocalEngine,
} from './local-engines';
import { freePort, portFree } from './ports';

/**
 * The local stack's container runtime for database pods. kwok only pretends to run pods; this
 * runs the database container of every Database pod bound to a (simulated) node as a real local
 * engine process, so activities and tests talk SQL to real PostgreSQL 15 and MariaDB (which
 * stands in for `mysql`). What a kubelet would do, in the small:
 *
 * - the superuser password comes from the container's env (secretKeyRef read from the Secret);
 * - data lives per PersistentVolumeClaim (`<stackDir>/engines/<namespace>/<claim>`), survives pod
 *   restarts and rolling updates, and is deleted with the claim;
 * - on an empty data directory the pod's init containers run first (the replica bootstrap runs
 *   pg_basebackup from member 0), with their env resolved, PRIMARY_HOST/PRIMARY_PORT pointing to
 *   member 0's local engine and PGDATA to the local data directory;
 * - a crashed or failing engine is restarted with backoff; nothing here may crash the stack.
 *
 * Pod DNS names cannot resolve on this machine, so the runtime publishes `engine-addresses.json`
 * (`<pod>.<service>.<namespace>.svc` → `127.0.0.1:<port>`), which the operator reads through
 * ENGINE_ADDRESS_MAP. A member keeps its port for as long as its claim exists: a replica's
 * primary_conninfo names the primary's port.
 */

export interface EngineRuntimeInfo {
  /** JSON object: member host → `127.0.0.1:<port>`, for each engine that accepts connections. */
  addressMap: string;
  /** Data of each claim: `<dataDir>/<namespace>/<claim>`. */
  dataDir: string;
  /** What the runtime does; each pod's engine output is in `<logDir>/<namespace>.<pod>.log`. */
  log: string;
  logDir: string;
}

export interface EngineRuntimeOptions {
  stackDir: string;
  /** Admin credentials: the runtime reads pods, claims and Secrets as a kubelet would. */
  kubeconfig: string;
}

const POD_SELECTOR = `${LABEL_MANAGED_BY}=${OPERATOR_NAME},${LABEL_COMPONENT}=database`;
const RESYNC_MS = 10_000;
const WATCH_SECONDS = 60;
const BACKOFF = { initialMs: 1_000, maxMs: 30_000 };
const CLAIM_UID_FILE = '.claim-uid';
const PORT_FILE = '.port';

export class EngineRuntime {
  readonly info: EngineRuntimeInfo;
  private readonly core: k8s.CoreV1Api;
  private readonly pods: ListWatch<k8s.V1Pod>;
  private readonly claims: ListWatch<k8s.V1PersistentVolumeClaim>;
  private readonly members = new Map<string, Member>();
  private readonly addresses = new Map<string, string>();
  private resync?: NodeJS.Timeout;
  private stopped = false;
  private dirty = false;
  private reconciling?: Promise<void>;
  /** Engines start one after another: each start (initdb, recovery) is a burst of CPU. */
  private startQueue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly opts: EngineRuntimeOptions) {
    const logDir = path.join(opts.stackDir, 'logs', 'engines');
    this.info = {
      addressMap: path.join(opts.stackDir, 'engine-addresses.json'),
      dataDir: path.join(opts.stackDir, 'engines'),
      log: path.join(opts.stackDir, 'logs', 'engine-runtime.log'),
      logDir,
    };
    fs.mkdirSync(logDir, { recursive: true });
    fs.mkdirSync(this.info.dataDir, { recursive: true });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(opts.kubeconfig);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    const trigger = () => this.trigger();
    this.pods = new ListWatch(
      kc,
      '/api/v1/pods',
      POD_SELECTOR,
      () => this.core.listPodForAllNamespaces({ labelSelector: POD_SELECTOR }),
      trigger,
      this.log,
    );
    this.claims = new ListWatch(
      kc,
      '/api/v1/persistentvolumeclaims',
      undefined,
      () => this.core.listPersistentVolumeClaimForAllNamespaces(),
      trigger,
      this.log,
    );
  }

  /** Starts watching; engines come up in the background as pods appear. */
  static start(opts: EngineRuntimeOptions): EngineRuntime {
    const runtime = new EngineRuntime(opts);
    runtime.writeAddressMap();
    runtime.log(`engine runtime started; pods selected by ${POD_SELECTOR}`);
    runtime.pods.start();
    runtime.claims.start();
    // Level-triggered: a periodic pass repairs whatever an event did not (or could not yet) fix.
    runtime.resync = setInterval(() => runtime.trigger(), RESYNC_MS);
    return runtime;
  }

  /** Stops every engine (their data stays) and the watches. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resync);
    this.pods.stop();
    this.claims.stop();
    await this.reconciling;
    await Promise.all([...this.members.values()].map((m) => m.stop()));
    this.members.clear();
    this.log('engine runtime stopped');
  }

  readonly log = (msg: string): void => {
    try {
      fs.appendFileSync(this.info.log, `${new Date().toISOString()} ${msg}\n`);
    } catch {
      // Logging must never take the runtime down.
    }
  };

  /** Local address (`127.0.0.1:<port>`) of a member host, while its engine accepts connections. */
  address(host: string): string | undefined {
    return this.addresses.get(host.replace(/\.cluster\.local\.?$/, ''));
  }

  setAddress(host: string, address: string | undefined): void {
    if (address === undefined) this.addresses.delete(host);
    else this.addresses.set(host, address);
    this.writeAddressMap();
  }

  claim(namespace: string, name: string): k8s.V1PersistentVolumeClaim | undefined {
    return this.claims.items.get(`${namespace}/${name}`);
  }

  /** Runs `start` after every earlier start has finished (successfully or not). */
  serialStart<T>(start: () => Promise<T>): Promise<T> {
    const run = this.startQueue.then(start, start);
    this.startQueue = run.catch(() => undefined);
    return run;
  }

  /** A Secret's data, decoded, read as the kubelet reads it for a pod's env. */
  async readSecretKeyMap(namespace: string, name: string): Promise<Record<string, string>> {
    const secret = await withTimeout(
      this.core.readNamespacedSecret({ namespace, name }),
      10_000,
      `read Secret ${namespace}/${name}`,
    );
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }

  async readSecretKey(namespace: string, name: string, key: string): Promise<string | undefined> {
    return (await this.readSecretKeyMap(namespace, name))[key];
  }

  readConfigMapKey(namespace: string, name: string, key: string): Promise<string | undefined> {
    return withTimeout(
      this.core.readNamespacedConfigMap({ namespace, name }),
      10_000,
      `read ConfigMap ${name}`,
    ).then((c) => c.data?.[key]);
  }

  private writeAddressMap(): void {
    const sorted = Object.fromEntries([...this.addresses].sort(([a], [b]) => a.localeCompare(b)));
    // Atomic for readers: a half-written file is never seen.
    const tmp = `${this.info.addressMap}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(sorted, null, 2)}\n`);
    fs.renameSync(tmp, this.info.addressMap);
  }

  private trigger(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.reconciling ??= (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        try {
          await this.reconcile();
        } catch (err) {
          this.log(`reconcile failed: ${describeError(err).error}`);
        }
      }
      this.reconciling = undefined;
    })();
  }

  private async reconcile(): Promise<void> {
    const wanted = new Map<string, k8s.V1Pod>();
    if (this.pods.synced) {
      for (const pod of this.pods.items.values()) {
        if (runnable(pod)) wanted.set(podKey(pod), pod);
      }
    }
    // Until the first list, nothing is known to be gone: keep what runs.
    if (this.pods.synced) {
      for (const [key, member] of this.members) {
        const pod = wanted.get(key);
        if (pod && pod.metadata?.uid === member.uid) continue;
        this.log(`${key}: pod ${pod ? 'replaced' : 'gone or terminating'}, stopping its engine`);
        await member.stop();
        this.members.delete(key);
      }
    }
    for (const [key, pod] of wanted) {
      if (this.members.has(key)) continue;
      const member = new Member(this, pod, this.opts.stackDir);
      this.members.set(key, member);
      member.start();
    }
    this.sweepVolumes();
  }

  /** Deletes the data of claims that no longer exist (or were re-created under the same name). */
  private sweepVolumes(): void {
    if (!this.claims.synced) return;
    const inUse = new Set([...this.members.values()].map((m) => m.volumeDir));
    for (const namespace of safeReaddir(this.info.dataDir)) {
      const nsDir = path.join(this.info.dataDir, namespace);
      for (const claimName of safeReaddir(nsDir)) {
        const dir = path.join(nsDir, claimName);
        if (inUse.has(dir)) continue;
        const claim = this.claim(namespace, claimName);
        const uid = readOr(path.join(dir, CLAIM_UID_FILE));
        if (claim && claim.metadata?.deletionTimestamp === undefined && (!uid || uid === claim.metadata?.uid))
          continue;
        this.log(`${namespace}/${claimName}: claim deleted, deleting its data ${dir}`);
        fs.rmSync(dir, { recursive: true, force: true });
      }
      if (safeReaddir(nsDir).length === 0) fs.rmSync(nsDir, { recursive: true, force: true });
    }
  }
}

/** A pod bound to a node and not on its way out: the kubelet would run it. */
function runnable(pod: k8s.V1Pod): boolean {
  const engine = pod.metadata?.labels?.[LABEL_NAME];
  return (
    (engine === 'postgres' || engine === 'mysql') &&
    Boolean(pod.spec?.nodeName) &&
    !pod.metadata?.deletionTimestamp &&
    pod.status?.phase !== 'Succeeded' &&
    pod.status?.phase !== 'Failed'
  );
}

function podKey(pod: k8s.V1Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}

/** The engine process of one pod, from its first start to the pod's end. */
class Member {
  readonly uid: string;
  readonly key: string;
  readonly volumeDir: string;
  private readonly engine: 'postgres' | 'mysql';
  private readonly host: string;
  private readonly logFile: string;
  private stopped = false;
  private running?: LocalEngine;
  private initPid?: number;
  private wake?: () => void;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly runtime: EngineRuntime,
    private readonly pod: k8s.V1Pod,
    private readonly stackDir: string,
  ) {
    const meta = pod.metadata!;
    this.uid = meta.uid!;
    this.key = podKey(pod);
    this.engine = meta.labels![LABEL_NAME] as 'postgres' | 'mysql';
    const subdomain = pod.spec?.subdomain ?? `${meta.labels?.[LABEL_INSTANCE]}-headless`;
    this.host = `${meta.name}.${subdomain}.${meta.namespace}.svc`;
    this.logFile = path.join(runtime.info.logDir, `${meta.namespace}.${meta.name}.log`);
    const claim = this.dataVolume()?.claimName;
    this.volumeDir = claim ? path.join(runtime.info.dataDir, meta.namespace!, claim) : '';
  }

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    if (this.initPid) killGroup(this.initPid);
    await this.running?.stop();
    await this.done;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const started = Date.now();
        const engine = await this.startOnce();
        if (!engine) return;
        failures = 0;
        this.runtime.log(
          `${this.key}: ${this.engine} ready on ${engine.host}:${engine.port} (pid ${engine.pid}) ` +
            `for ${this.host} in ${Date.now() - started} ms`,
        );
        await engine.exited;
        this.runtime.setAddress(this.host, undefined);
        this.running = undefined;
        if (this.stopped) {
          this.runtime.log(`${this.key}: engine stopped`);
          return;
        }
        this.runtime.log(`${this.key}: engine exited on its own (see ${this.logFile}); restarting`);
      } catch (err) {
        if (this.stopped) return;
        failures++;
        this.runtime.log(`${this.key}: start failed (attempt ${failures}): ${describeError(err).error}`);
      }
      await this.sleep(backoffDelay(Math.max(1, failures), BACKOFF));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private dataVolume(): { claimName: string; mountPath: string } | undefined {
    const container = this.container();
    for (const mount of container?.volumeMounts ?? []) {
      const volume = this.pod.spec?.volumes?.find((v) => v.name === mount.name);
      if (volume?.persistentVolumeClaim)
        return { claimName: volume.persistentVolumeClaim.claimName, mountPath: mount.mountPath };
    }
    return undefined;
  }

  private container(): k8s.V1Container | undefined {
    const containers = this.pod.spec?.containers ?? [];
    return containers.find((c) => c.name === CONTAINER_NAME) ?? containers[0];
  }

  /** Prepares the volume, runs init containers on an empty one and starts the engine. */
  private async startOnce(): Promise<LocalEngine | undefined> {
    const meta = this.pod.metadata!;
    const namespace = meta.namespace!;
    const container = this.container();
    const volume = this.dataVolume();
    if (!container || !volume)
      throw new Error('the pod has no container with a PersistentVolumeClaim volume');
    const claim = this.runtime.claim(namespace, volume.claimName);
    if (!claim?.metadata?.uid) throw new Error(`PersistentVolumeClaim ${volume.claimName} not seen yet`);
    const account = engineAccount(this.engine);
    this.prepareVolume(claim.metadata.uid, account);

    const env = await resolveEnv(this.runtime, this.pod, container);
    const profile = engineProfile(this.engine, 'local');
    const password = env.get(profile.passwordEnv) ?? env.get('MARIADB_ROOT_PASSWORD');
    if (password === undefined) throw new Error(`the container sets no ${profile.passwordEnv}`);
    // Where the engine keeps its data inside the volume: PGDATA for postgres, as in the pod.
    const inPod = (this.engine === 'postgres' && env.get('PGDATA')) || profile.dataDir;
    const relative = path.relative(volume.mountPath, inPod);
    const dataDir =
      relative && !relative.startsWith('..') && !path.isAbsolute(relative)
        ? path.join(this.volumeDir, relative)
        : path.join(this.volumeDir, path.relative(profile.dataMountPath, profile.dataDir));

    const initialized = fs.existsSync(
      path.join(dataDir, this.engine === 'postgres' ? 'PG_VERSION' : 'mysql'),
    );
    if (!initialized) await this.runInitContainers(dataDir, account);
    if (this.stopped) return undefined;

    const port = await this.stablePort();
    const engine = await this.runtime.serialStart(async () => {
      if (this.stopped) return undefined;
      this.runtime.log(`${this.key}: starting ${this.engine} on port ${port}, data ${dataDir}`);
      const common = { dataDir, port, password, log: this.logFile, stackDir: this.stackDir };
      return this.engine === 'postgres'
        ? startLocalPostgres(common)
        : startLocalMariadb({ ...common, serverId: serverId(container, env, this.pod) });
    });
    if (!engine) return undefined;
    this.running = engine;
    if (this.stopped) {
      await engine.stop();
      return undefined;
    }
    this.runtime.setAddress(this.host, `${engine.host}:${engine.port}`);
    return engine;
  }

  private prepareVolume(claimUid: string, account: Account | undefined): void {
    const uidFile = path.join(this.volumeDir, CLAIM_UID_FILE);
    const known = readOr(uidFile);
    if (known && known !== claimUid) {
      // The claim was deleted and re-created under the same name: a new, empty volume.
      this.runtime.log(`${this.key}: claim re-created, discarding the old volume's data`);
      fs.rmSync(this.volumeDir, { recursive: true, force: true });
    }
    fs.mkdirSync(this.volumeDir, { recursive: true });
    // The engine's user writes here (pg_basebackup creates PGDATA inside), as fsGroup allows in a pod.
    if (account) fs.chownSync(this.volumeDir, account.uid, account.gid);
    if (!known || known !== claimUid) fs.writeFileSync(uidFile, claimUid);
  }

  /** The port this claim's engine had before, if it is still free; else a new one, remembered. */
  private async stablePort(): Promise<number> {
    const file = path.join(this.volumeDir, PORT_FILE);
    const before = Number(readOr(file));
    if (before && (await portFree(before))) return before;
    const port = await freePort();
    fs.writeFileSync(file, String(port));
    return port;
  }

  private async runInitContainers(dataDir: string, account: Account | undefined): Promise<void> {
    for (const init of this.pod.spec?.initContainers ?? []) {
      if (this.stopped) return;
      if (!init.command?.length) {
        this.runtime.log(
          `${this.key}: init container ${init.name} has no command (image entrypoint), skipped`,
        );
        continue;
      }
      const env = await resolveEnv(this.runtime, this.pod, init);
      // Only what differs on this machine is replaced: the data directory and member 0's address.
      if (env.has('PGDATA')) env.set('PGDATA', dataDir);
      const primary = env.get('PRIMARY_HOST');
      // Member 0 names itself, and its script does nothing: it gets the name as in a cluster.
      if (primary !== undefined && primary.replace(/\.cluster\.local\.?$/, '') !== this.host) {
        const address = this.runtime.address(primary);
        if (!address) throw new Error(`init container ${init.name}: ${primary} has no running engine yet`);
        const [host, port] = address.split(':');
        env.set('PRIMARY_HOST', host!);
        if (env.has('PRIMARY_PORT')) env.set('PRIMARY_PORT', port!);
      }
      this.runtime.log(`${this.key}: running init container ${init.name}`);
      fs.appendFileSync(this.logFile, `\n[engine-runtime] init container ${init.name}\n`);
      const code = await this.runProcess([...init.command, ...(init.args ?? [])], env, account);
      if (this.stopped) return;
      if (code !== 0)
        throw new Error(`init container ${init.name} exited with ${code} (see ${this.logFile})`);
      this.runtime.log(`${this.key}: init container ${init.name} completed`);
    }
  }

  private runProcess(
    argv: string[],
    env: Map<string, string>,
    account: Account | undefined,
  ): Promise<number | string> {
    const out = fs.openSync(this.logFile, 'a');
    try {
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: this.volumeDir,
        // A group of its own, so that stopping the pod also ends what a script started.
        detached: true,
        stdio: ['ignore', out, out],
        env: {
          PATH: `${path.dirname(postgresBinary('postgres'))}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          HOME: this.volumeDir,
          ...Object.fromEntries(env),
          DURABLE_STACK_DIR: this.stackDir,
        },
        ...(account ? { uid: account.uid, gid: account.gid } : {}),
      });
      this.initPid = child.pid;
      return new Promise((resolve) => {
        child.once('error', (err) => resolve(err.message));
        child.once('exit', (code, signal) => {
          this.initPid = undefined;
          resolve(code ?? signal ?? -1);
        });
      });
    } finally {
      fs.closeSync(out);
    }
  }
}

/** MariaDB's server_id: the one the container's args give (`--server-id=1$(POD_INDEX)`), else 1<ordinal>. */
function serverId(container: k8s.V1Container, env: Map<string, string>, pod: k8s.V1Pod): number {
  for (const arg of container.args ?? []) {
    const m = /^--server[-_]id=(.+)$/.exec(expand(arg, env));
    if (m && /^\d+$/.test(m[1]!)) return Number(m[1]);
  }
  const ordinal =
    pod.metadata?.labels?.[POD_INDEX_LABEL] ?? /-(\d+)$/.exec(pod.metadata?.name ?? '')?.[1] ?? '0';
  return Number(`1${ordinal}`);
}

/**
 * A container's environment as the kubelet builds it: envFrom, then env in order, with `$(VAR)`
 * references to earlier variables expanded, secretKeyRef and configMapKeyRef read from the API, and
 * fieldRef from the pod.
 */
async function resolveEnv(
  runtime: EngineRuntime,
  pod: k8s.V1Pod,
  container: k8s.V1Container,
): Promise<Map<string, string>> {
  const namespace = pod.metadata!.namespace!;
  const env = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.secretRef) {
      const secret = await runtime
        .readSecretKeyMap(namespace, from.secretRef.name!)
        .catch((err: unknown) => (from.secretRef?.optional ? {} : Promise.reject(err)));
      for (const [k, v] of Object.entries(secret)) env.set(prefix + k, v);
    }
  }
  for (const v of container.env ?? []) {
    let value: string | undefined;
    if (v.valueFrom?.secretKeyRef) {
      const ref = v.valueFrom.secretKeyRef;
      value = await runtime.readSecretKey(namespace, ref.name!, ref.key);
      if (value === undefined && !ref.optional) throw new Error(`Secret ${ref.name} has no key ${ref.key}`);
    } else if (v.valueFrom?.configMapKeyRef) {
      const ref = v.valueFrom.configMapKeyRef;
      value = await runtime.readConfigMapKey(namespace, ref.name!, ref.key);
      if (value === undefined && !ref.optional)
        throw new Error(`ConfigMap ${ref.name} has no key ${ref.key}`);
    } else if (v.valueFrom?.fieldRef) {
      value = fieldValue(pod, v.valueFrom.fieldRef.fieldPath);
    } else {
      value = expand(v.value ?? '', env);
    }
    if (value !== undefined) env.set(v.name, value);
  }
  return env;
}

/** `$(VAR)` → its value when defined earlier; `$$(VAR)` → a literal `$(VAR)`. */
function expand(value: string, env: Map<string, string>): string {
  return value.replace(/\$(\$?)\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, escaped: string, name: string) =>
    escaped ? whole.slice(1) : (env.get(name) ?? whole),
  );
}

function fieldValue(pod: k8s.V1Pod, fieldPath: string): string | undefined {
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (keyed) return pod.metadata?.[keyed[1] as 'labels' | 'annotations']?.[keyed[2]!];
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.podIP': pod.status?.podIP,
    'status.hostIP': pod.status?.hostIP,
  };
  return fields[fieldPath];
}

// ---- list + watch -------------------------------------------------------------------------------

/**
 * A cache of one resource kept by list, then watch from the list's resourceVersion; any error, an
 * ERROR event (410 Gone) or the end of the watch leads to a fresh list. A client-side deadline
 * slightly past the server-side timeout ends a half-open watch that would otherwise hang.
 */
class ListWatch<T extends k8s.KubernetesObject> {
  readonly items = new Map<string, T>();
  synced = false;
  private stopped = false;
  private abort?: AbortController;
  private wake?: () => void;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly path: string,
    private readonly labelSelector: string | undefined,
    private readonly list: () => Promise<k8s.KubernetesListObject<T>>,
    private readonly onChange: () => void,
    private readonly log: (msg: string) => void,
  ) {}

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const list = await withTimeout(this.list(), 30_000, `list ${this.path}`);
        this.items.clear();
        for (const item of list.items) this.items.set(key(item), item);
        this.synced = true;
        this.onChange();
        await this.watch(list.metadata?.resourceVersion);
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        failures++;
        this.log(`watch of ${this.path} failed (attempt ${failures}): ${describeError(err).error}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffDelay(failures, BACKOFF));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  private watch(resourceVersion: string | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        this.abort?.abort();
        if (err && !this.stopped) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve();
      };
      const deadline = setTimeout(() => finish(), (WATCH_SECONDS + 15) * 1000);
      new k8s.Watch(this.kc)
        .watch(
          this.path,
          {
            labelSelector: this.labelSelector,
            resourceVersion,
            timeoutSeconds: WATCH_SECONDS,
            allowWatchBookmarks: true,
          },
          (type: string, obj: T) => {
            if (settled) return;
            try {
              if (type === 'ERROR') return finish(); // e.g. 410 Gone: list again
              if (type === 'BOOKMARK') return;
              if (type === 'DELETED') this.items.delete(key(obj));
              else this.items.set(key(obj), obj);
              this.onChange();
            } catch (err) {
              finish(err);
            }
          },
          (err: unknown) => finish(err),
        )
        .then(
          (abort) => {
            this.abort = abort;
            if (settled) abort.abort();
          },
          (err: unknown) => finish(err),
        );
    });
  }
}

function key(obj: k8s.KubernetesObject): string {
  return `${obj.metadata?.namespace}/${obj.metadata?.name}`;
}

// ---- small helpers ------------------------------------------------------------------------------

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function readOr(file: string, fallback = ''): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
