// `lavin train`'s report of the wait while training images are read (host/cli/imageTextProgress.ts):
// throttled to a redraw and a --json event a second (or a new tenth), a last line with the counts and
// the time, stdout untouched in human mode and JSON lines only with --json.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { CliOutput } from '../../server/host/cli/output';
import { imageTextProgress, preparingProgress } from '../../server/host/cli/beforeFirstStep';

function sink(isTTY = false): Writable & { text: string; isTTY?: boolean } {
  const w = new Writable({
    write(chunk, _enc, done) {
      w.text += chunk.toString();
      done();
    },
  }) as Writable & { text: string; isTTY?: boolean };
  w.text = '';
  w.isTTY = isTTY;
  return w;
}

/** 100 images read 0.5 s apart, 40 of them with text, through a fresh reporter. */
function run(json: boolean, isTTY = false) {
  const stdout = sink();
  const stderr = sink(isTTY);
  let clock = 0;
  const report = imageTextProgress(new CliOutput(json, stdout, stderr), () => clock);
  for (let done = 0; done <= 100; done++) {
    report({ done, total: 100, withText: Math.min(done, 40) });
    clock += 500;
  }
  return { stdout: stdout.text, stderr: stderr.text };
}

test('on a pipe: a line per tenth on stderr, then "read the text of N images (K with text) in S s"; stdout stays empty', () => {
  const { stdout, stderr } = run(false);
  assert.equal(stdout, '');
  const lines = stderr.trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, -1), Array.from({ length: 10 }, (_, k) => `reading image text ${k * 10}% ${k * 10}/100 images`));
  assert.equal(lines.at(-1), 'read the text of 100 images (40 with text) in 50.0 s');
});

test('on a terminal: the bar redraws at most once a second, then the last line', () => {
  const { stderr } = run(false, true);
  const redraws = stderr.split('\r').filter((s) => s.startsWith('reading image text ['));
  assert.equal(redraws.length, 50, 'one redraw a second over 50 s');
  assert.match(stderr, /read the text of 100 images \(40 with text\) in 50\.0 s\n$/);
});

test('--json: progress events at most once a second on stdout, each a JSON line, the last at 100 % with the counts; nothing on stderr', () => {
  const { stdout, stderr } = run(true);
  assert.equal(stderr, '');
  const events = stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.equal(events.length, 51);
  assert.ok(events.every((e) => e.event === 'progress' && e.total === 100));
  assert.ok(events.every((e, i) => i === 0 || (e.done > events[i - 1].done && e.percentage >= events[i - 1].percentage)));
  // The same words as the server's progress bar and the extension's notification (protocolText.ts).
  assert.equal(events[1].message, `reading the text of the images: ${events[1].done}/100`);
  assert.deepEqual(events.at(-1), { event: 'progress', message: 'read the text of 100 images (40 with text) in 50.0 s', percentage: 100, done: 100, total: 100, withText: 40 });
});

test('a fresh vision set measuring its images: the same throttled report, in its own words', () => {
  const stdout = sink();
  const stderr = sink();
  let clock = 0;
  const report = preparingProgress(new CliOutput(false, stdout, stderr), () => clock);
  for (let done = 0; done <= 20; done++, clock += 250) report({ what: 'measuring the CLIP features of the images', done, total: 20 });
  assert.equal(stdout.text, '');
  const lines = stderr.text.trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, -1), Array.from({ length: 10 }, (_, k) => `measuring images ${k * 10}% ${k * 2}/20 images`));
  assert.equal(lines.at(-1), 'measuring the CLIP features of the images: 20 images done in 5.0 s');
});
