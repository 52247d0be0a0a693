import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { builtImages, imageIndexFile, type ImageArchive } from './index';

/**
 * The images of the real nodes keep the contract of the official images of their names. Each ref
 * is run by tools/images/verify.sh (unpacked layers, chroot as uid 999 without capabilities on a
 * read-only root, private namespaces): see that script for the checks.
 * Needs the images (`bash tools/build-images.sh`) and root; skipped with a message otherwise.
 */
const verify = path.join(__dirname, 'verify.sh');
const missing = !fs.existsSync(imageIndexFile)
  ? `${imageIndexFile} is missing (run \`bash tools/build-images.sh\`)`
  : process.getuid?.() !== 0
    ? 'verify.sh needs root'
    : undefined;
if (missing) console.warn(`tools/images/images.test.ts skipped: ${missing}`);
const describeImages = missing ? describe.skip : describe;

const REFS = [
  'docker.io/library/postgres:15',
  'docker.io/library/postgres:17',
  'docker.io/library/mariadb:10.11',
  'docker.io/library/mariadb:11.8',
  'localhost/durable-test/postgres-never-ready:15',
  'localhost/durable-test/postgres-crashing:15',
  'localhost/durable-test/mariadb-never-ready:10.11',
  'registry.k8s.io/pause:3.10',
];

describeImages('images built from Debian packages', () => {
  let archives: ImageArchive[] = [];
  beforeAll(() => {
    archives = builtImages();
  });

  test('index.json lists every image, with the major and the exact version tags', () => {
    const refs = archives.flatMap((a) => a.refs);
    for (const ref of REFS) expect(refs).toContain(ref);
    expect(refs.some((r) => /^docker\.io\/library\/postgres:15\.\d+$/.test(r))).toBe(true);
    expect(refs.some((r) => /^docker\.io\/library\/mariadb:11\.8\.\d+$/.test(r))).toBe(true);
    expect(refs.some((r) => /^docker\.io\/amazon\/aws-cli:\d+\.\d+\.\d+$/.test(r))).toBe(true);
    for (const a of archives) {
      expect(path.isAbsolute(a.file)).toBe(true);
      expect(fs.existsSync(a.file)).toBe(true);
      expect(a.key).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  test('test images share their base layer with the engine image in one tarball', () => {
    const file = archives.find((a) => a.refs.includes('docker.io/library/postgres:15'))!.file;
    const manifest = JSON.parse(
      execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' }),
    ) as {
      RepoTags: string[];
      Layers: string[];
    }[];
    const base = manifest.find((m) => m.RepoTags.includes('docker.io/library/postgres:15'))!;
    const fault = manifest.find((m) =>
      m.RepoTags.includes('localhost/durable-test/postgres-never-ready:15'),
    )!;
    expect(base.Layers).toHaveLength(1);
    expect(fault.Layers).toEqual([...base.Layers, expect.any(String)]);
  });

  test("the operator's image is the Dockerfile's runtime stage (tools/build-operator-image.sh)", () => {
    for (const tag of ['0.1.0', '0.1.0-next']) {
      const archive = archives.find((a) => a.refs.includes(`docker.io/library/durable-db-operator:${tag}`));
      expect(archive).toBeDefined();
      const tar = (member: string) =>
        execFileSync('tar', ['-xOf', archive!.file, member], { encoding: 'utf8' });
      const [manifest] = JSON.parse(tar('manifest.json')) as { Config: string; Layers: string[] }[];
      const config = (
        JSON.parse(tar(manifest!.Config)) as {
          config: {
            User: string;
            Entrypoint: string[];
            Cmd: string[];
            Env: string[];
            Labels: Record<string, string>;
          };
        }
      ).config;
      expect(config).toMatchObject({
        User: '10001:10001',
        Entrypoint: ['node', '--max-semi-space-size=2', 'dist/cmd/cli.js'],
        Cmd: ['worker'],
      });
      expect(config.Env).toEqual(
        expect.arrayContaining(['NODE_ENV=production', 'WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js']),
      );
      expect(config.Labels).toMatchObject({
        'org.opencontainers.image.version': tag,
        'org.opencontainers.image.base.name': 'docker.io/library/node:20-bookworm-slim',
      });
      // The base's layer (bookworm and Node) and the runtime stage's COPY layers.
      expect(manifest!.Layers.length).toBeGreaterThan(1);
    }
  });

  const awsRef = () =>
    archives.flatMap((a) => a.refs).find((r) => r.startsWith('docker.io/amazon/aws-cli:'))!;
  test.each([...REFS, 'aws-cli'])(
    '%s keeps its contract (verify.sh)',
    (name) => {
      const ref = name === 'aws-cli' ? awsRef() : name;
      const run = spawnSync('bash', [verify, ref], { encoding: 'utf8', timeout: 280_000 });
      const out = `${run.stdout}${run.stderr}`;
      if (run.status !== 0)
        throw new Error(`verify.sh ${ref} failed (exit ${run.status}):\n${out.slice(-4000)}`);
      expect(out).toContain('all checks passed');
    },
    300_000,
  );
});
