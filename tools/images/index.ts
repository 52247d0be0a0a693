import fs from 'node:fs';
import path from 'node:path';

/** An image tarball built by tools/build-images.sh (docker-archive), with the names it carries. */
export interface ImageArchive {
  refs: string[];
  file: string;
  key: string;
}

export const imagesDir = process.env.DURABLE_IMAGES_DIR ?? path.resolve(__dirname, '..', '..', '.images');

/** The built images, from .images/index.json; throws with the command to run when missing. */
export function builtImages(): ImageArchive[] {
  const index = path.join(imagesDir, 'index.json');
  if (!fs.existsSync(index)) throw new Error(`${index} is missing: run \`npm run images\` first`);
  return JSON.parse(fs.readFileSync(index, 'utf8')) as ImageArchive[];
}
