import fs from 'node:fs';
import path from 'node:path';

/**
 * The container images of the real nodes, built from Debian packages by tools/build-images.sh
 * (no registry: each node imports them with `ctr -n k8s.io images import FILE`).
 */
export interface ImageArchive {
  /** Fully qualified image names in the tarball, e.g. `docker.io/library/postgres:15`. */
  refs: string[];
  /** Absolute path of the docker-archive tarball. */
  file: string;
  /** Content hash of the archive's inputs (see tools/build-images.sh). */
  key: string;
}

const repoRoot = path.resolve(__dirname, '..', '..');
export const imagesDir = process.env.DURABLE_IMAGES_DIR ?? path.join(repoRoot, '.images');
export const imageIndexFile = path.join(imagesDir, 'index.json');

/** The archives listed in .images/index.json; throws with the command to run when it is missing. */
export function builtImages(indexFile = imageIndexFile): ImageArchive[] {
  if (!fs.existsSync(indexFile)) {
    throw new Error(`${indexFile} is missing: run \`bash tools/build-images.sh\` first (as root)`);
  }
  const parsed: unknown = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${indexFile}: expected a JSON array`);
  return parsed.map((entry: unknown, i) => {
    const e = entry as Partial<ImageArchive> | null;
    const ok =
      e !== null &&
      Array.isArray(e.refs) &&
      e.refs.every((r) => typeof r === 'string') &&
      typeof e.file === 'string' &&
      typeof e.key === 'string';
    if (!ok) throw new Error(`${indexFile}: entry ${i} is not { refs: string[], file, key }`);
    return { refs: e.refs as string[], file: e.file as string, key: e.key as string };
  });
}

/** The archive holding `ref` (a fully qualified name as in index.json). */
export function archiveOf(ref: string, archives = builtImages()): ImageArchive {
  const found = archives.find((a) => a.refs.includes(ref));
  if (!found)
    throw new Error(
      `no built image archive holds ${ref}; built: ${archives.flatMap((a) => a.refs).join(', ')}`,
    );
  return found;
}
