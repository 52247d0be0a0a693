import fs from 'node:fs';
import path from 'node:path';
import { PATCHES } from '../../workflows/patches';

/** Every patched('<id>') in workflow code is in the register, and the register lists nothing else. */
describe('patch register (workflows/patches.ts)', () => {
  const dir = path.join(__dirname, '..', '..', 'workflows');
  const used = new Set<string>();
  const files = (fs.readdirSync(dir, { recursive: true }) as string[]).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  it('finds the workflow code', () => expect(files).toContain(path.join('database', 'reconcile.ts')));
  for (const file of files) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const m of text.matchAll(
      /\b(?:patched|deprecatePatch)\(\s*(?:'([^']+)'|"([^"]+)"|([A-Za-z_.[\]'"-]+))\s*\)/g,
    )) {
      used.add(m[1] ?? m[2] ?? `non-literal: ${m[3]}`);
    }
  }

  it('lists every patch id the workflows use, as literals', () => {
    expect([...used].sort()).toEqual(Object.keys(PATCHES).sort());
  });
});
