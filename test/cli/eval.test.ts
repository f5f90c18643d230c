// `lavin eval --scienceqa`: Table 1 over a ScienceQA-layout folder, and its error paths.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { lavin, REPO } from './runLavin';

const SAMPLE = path.join(REPO, 'test', 'data', 'scienceqa-sample');

test('eval --json prints a done event whose counts add up over the problems evaluated', async () => {
  const r = await lavin(['eval', '--scienceqa', SAMPLE, '--limit', '5', '--greedy', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const done = r.events.find((e) => e.event === 'done') as unknown as { counts: Record<string, { total: number; correct: number }>; split: string };
  assert.ok(done, `no done event in ${JSON.stringify(r.events)}`);
  assert.equal(done.split, 'test');
  assert.equal(done.counts.Avg.total, 5);
  assert.equal(done.counts.NAT.total + done.counts.SOC.total + done.counts.LAN.total, 5);
  assert.equal(done.counts['G1-6'].total + done.counts['G7-12'].total, 5);
});

test('eval prints the Table 1 header for people', async () => {
  const r = await lavin(['eval', '--scienceqa', SAMPLE, '--limit', '2', '--greedy']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /NAT\s+SOC\s+LAN\s+TXT\s+IMG\s+NO\s+G1-6\s+G7-12\s+Avg/);
});

test('eval refuses a folder without problems.json, a missing --scienceqa and a bad --unparsed', async () => {
  const notSqa = await lavin(['eval', '--scienceqa', path.join(REPO, 'media'), '--json']);
  assert.equal(notSqa.code, 1);
  assert.match(String(notSqa.events[0]?.message), /not a ScienceQA folder/);
  const missing = await lavin(['eval', '--json']);
  assert.equal(missing.code, 2);
  assert.match(String(missing.events[0]?.message), /eval needs --scienceqa/);
  const badMode = await lavin(['eval', '--scienceqa', SAMPLE, '--unparsed', 'maybe']);
  assert.equal(badMode.code, 2);
  assert.match(badMode.stderr, /--unparsed must be wrong or random/);
});
