import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * The chart's RBAC (as rendered into deploy/manifests/20-rbac.yaml, which deploy/render.sh keeps
 * equal to `helm template`) against the Kubernetes API calls in the code: each component is
 * granted exactly what its calls need, no verb more, no verb less. The calls are read from the
 * source: typed client-node methods (`readNamespacedSecret` → get secrets) and custom-object
 * methods (the plural from the call's arguments); what no method name shows (generic
 * server-side apply, admission requirements) is declared below with why, and each declaration
 * is checked to still match the code. deploy.test.ts then proves the grants on a real API server
 * with `kubectl auth can-i`.
 */

const root = path.join(__dirname, '..', '..');
const SOURCES = { worker: ['activities', 'engines'], watcher: ['watcher'] } as const;
type Component = keyof typeof SOURCES;

/** Typed client-node kinds → `group/resource` (core group ''). */
const KINDS: Record<string, string> = {
  Secret: '/secrets',
  ConfigMap: '/configmaps',
  Service: '/services',
  PersistentVolumeClaim: '/persistentvolumeclaims',
  Pod: '/pods',
  PodLog: '/pods/log',
  Event: '/events',
  StatefulSet: 'apps/statefulsets',
  Job: 'batch/jobs',
  StorageClass: 'storage.k8s.io/storageclasses',
  Lease: 'coordination.k8s.io/leases',
};
const VERBS: Record<string, string> = {
  read: 'get',
  get: 'get',
  create: 'create',
  patch: 'patch',
  delete: 'delete',
  list: 'list',
  replace: 'update',
};

/** What method names do not show. Each: the component, a file and a text that must be in it. */
const DECLARED: { who: Component; file: string; marker: string; grants: string[]; why: string }[] = [
  {
    who: 'worker',
    file: 'activities/database-objects.ts',
    marker: 'serverSideApply(',
    grants: ['/configmaps', '/services', '/secrets', 'apps/statefulsets'].flatMap((r) =>
      ['get', 'create', 'patch'].map((v) => `${r}:${v}`),
    ),
    why: 'server-side apply (KubernetesObjectApi read + PATCH; an apply that creates needs create)',
  },
  {
    who: 'worker',
    file: 'activities/release.ts',
    marker: 'ownerReferences: null',
    grants: ['/secrets:patch', '/persistentvolumeclaims:patch'],
    why: 'orphaning on deletionPolicy Retain (merge patch through KubernetesObjectApi)',
  },
  {
    who: 'worker',
    file: 'activities/release.ts',
    marker: 'ownerReferences: null',
    grants: ['/secrets:delete'],
    why: 'OwnerReferencesPermissionEnforcement: only who may delete an object may change its ownerReferences',
  },
  {
    who: 'worker',
    file: 'activities/readiness.ts',
    marker: 'new Watch(clients.kubeConfig).watch(',
    grants: ['apps/statefulsets:watch'],
    why: 'the readiness wait watches the one StatefulSet it waits for',
  },
  {
    who: 'worker',
    file: 'activities/manifests/labels.ts',
    marker: 'blockOwnerDeletion: true',
    grants: ['durable.dev/databases/finalizers:update'],
    why: 'OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs update on the owner’s finalizers',
  },
];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [rel] : [];
  });
}

/** `group/resource:verb` of every API call in a component's code. */
function usedBy(who: Component): Set<string> {
  const used = new Set<string>();
  const method =
    /\.(read|get|create|patch|delete|list|replace)(Namespaced|Cluster)?(\w+?)(ForAllNamespaces)?\(/g;
  for (const file of SOURCES[who].flatMap(sourceFiles)) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    for (const m of text.matchAll(method)) {
      const [, action, scope, rawKind] = m as unknown as [string, string, string | undefined, string];
      const status = rawKind.endsWith('Status') && rawKind !== 'Status';
      const kind = status ? rawKind.slice(0, -'Status'.length) : rawKind;
      let resource: string | undefined;
      if (kind === 'CustomObject') {
        // The plural is in the call's arguments (databaseResource(…), backupsResource(…), a
        // `resource` built from DATABASE_BACKUP.plural in a backup informer).
        const args = text.slice(m.index, m.index + 200);
        const backup = /backup/i.test(args) || (!/database/i.test(args) && /backup/.test(file));
        resource = `durable.dev/${backup ? 'databasebackups' : 'databases'}`;
      } else if (KINDS[kind]) {
        resource = KINDS[kind];
      } else if (scope) {
        throw new Error(`${file}: ${m[0]} calls the API for a kind this test does not know: add it to KINDS`);
      } else {
        continue; // not a Kubernetes call (readFileSync, createHash, …)
      }
      const target = status ? `${resource}/status` : resource;
      used.add(`${target}:${VERBS[action]}`);
      // The watcher lists to feed informers, which then watch.
      if (who === 'watcher' && action === 'list') used.add(`${target}:watch`);
    }
  }
  for (const d of DECLARED.filter((x) => x.who === who)) for (const g of d.grants) used.add(g);
  return used;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface RbacObject {
  kind: string;
  metadata: { name: string };
  rules?: Rule[];
}

const rbacDocs = parseAllDocuments(fs.readFileSync(path.join(root, 'deploy/manifests/20-rbac.yaml'), 'utf8'))
  .map((d) => d.toJSON() as RbacObject | null)
  .filter((o): o is RbacObject => !!o && (o.kind === 'ClusterRole' || o.kind === 'Role'));

/** `group/resource:verb` the rendered chart grants a component (its roles, any scope). */
function grantedTo(who: Component): Set<string> {
  const granted = new Set<string>();
  for (const role of rbacDocs.filter((r) => new RegExp(`-${who}(-|$)`).test(r.metadata.name))) {
    for (const rule of role.rules ?? []) {
      for (const group of rule.apiGroups)
        for (const resource of rule.resources)
          for (const verb of rule.verbs) granted.add(`${group}/${resource}:${verb}`);
    }
  }
  return granted;
}

describe('RBAC of the chart against the API calls of the code', () => {
  it('every declared call is still in the code', () => {
    for (const d of DECLARED) {
      expect(`${d.file}: ${fs.readFileSync(path.join(root, d.file), 'utf8').includes(d.marker)}`).toBe(
        `${d.file}: true`,
      );
    }
  });

  it.each(Object.keys(SOURCES) as Component[])('the %s is granted exactly what its calls use', (who) => {
    const used = [...usedBy(who)].sort();
    const granted = [...grantedTo(who)].sort();
    expect(used.length).toBeGreaterThan(5);
    expect(granted).toEqual(used);
  });

  it('Secrets are read by name only: nobody may list or watch them, the watcher may not touch them', () => {
    const secretVerbs = (who: Component) =>
      [...grantedTo(who)].filter((g) => g.startsWith('/secrets:')).map((g) => g.split(':')[1]);
    expect(secretVerbs('worker').sort()).toEqual(['create', 'delete', 'get', 'patch']);
    expect(secretVerbs('watcher')).toEqual([]);
    for (const role of rbacDocs) {
      for (const rule of role.rules ?? []) {
        if (rule.apiGroups.includes('') && rule.resources.includes('secrets')) {
          expect(rule.verbs).not.toContain('list');
          expect(rule.verbs).not.toContain('watch');
        }
      }
    }
  });
});
