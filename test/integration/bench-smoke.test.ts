/**
 * The cost benchmark (test/bench/cost.ts) as a smoke run with tiny counts (1 one at a time, 2 at
 * once, 5 on kwok, a 30 s idle window with a look every 10 s; about 3 minutes), so that CI proves it still runs end to
 * end on the stack and that every figure of its table is a real measurement: a finite number,
 * above zero where it must be (StatefulSet-created times, actions to Ready, RSS).
 * It asserts nothing about speed; the full run is a command in the README.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { badFigures, type CostReport } from '../bench/cost-table';

jest.setTimeout(420_000);

const root = path.resolve(__dirname, '..', '..');
let running: ChildProcess | undefined;

// At a timeout the bench is told to stop (it cleans up its namespaces and processes on SIGTERM).
afterAll(async () => {
  const child = running;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}, 120_000);

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = (running = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'test', 'bench', 'cost.ts'), ...args],
      {
        cwd: root,
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    // Its progress lines, live: a run that hangs shows where.
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('cost benchmark, smoke run', () => {
  it('prints a table of measured figures for the operator and the plain controller', async () => {
    const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-')), 'report.json');
    const res = await runBench([
      '--count=1',
      '--at-once=2',
      '--scale-count=5',
      '--idle-seconds=30',
      // A few periodic looks in the window, for the actions-per-look figures.
      '--resync-seconds=10',
      `--json=${json}`,
    ]);
    expect({ code: res.code, stderr: res.code === 0 ? '' : res.stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as CostReport;
    expect(report.figures.length).toBeGreaterThanOrEqual(20);
    expect(badFigures(report)).toEqual([]);
    // The table printed is the report's: one row per figure, both columns and the ratio.
    expect(res.stdout).toContain('| figure');
    for (const f of report.figures) expect(res.stdout).toContain(f.label);
    const label = (start: string) => report.figures.find((f) => f.label.startsWith(start))!;
    expect(label('Temporal actions per Database to Ready').operator).toBeGreaterThan(0);
    expect(label('apply → StatefulSet created').peer).toBeGreaterThan(0);
  });
});
