// Bad command lines: every subcommand exits with 2 and says what is wrong.

import * as assert from 'assert/strict';
import { describe, it } from 'node:test';
import { lavin } from './runLavin';

describe('bad command lines exit with 2 and say what is wrong', () => {
  const cases: [string[], RegExp][] = [
    [['ask', '--bogus', 'x'], /Unknown option '--bogus'/],
    [['ask', '--max-new-tokens', 'many', 'x'], /--max-new-tokens must be an integer/],
    [['ask', '--temperature=-1', 'x'], /--temperature must be a number from 0/],
    [['ask', '--top-p', '2', 'x'], /--top-p must be a number from 0 to 1/],
    [['ask'], /ask needs a question/],
    [['ask', '--device', 'tpu', 'x'], /--device must be auto, cpu, cuda or webgpu/],
    [['ask', 'two', 'questions'], /takes one a question; got 2 \(quote the question\)|takes one/],
    [['explain'], /explain needs a FILE/],
    [['train', '--steps', '3'], /train needs --docs/],
    [['train', '--docs', 'd', '--steps', '0'], /--steps must be an integer from 1/],
    [['convert', '--llama', 'x', '--adapter', 'y', '--out', 'z'], /convert needs --clip/],
    [['convert', '--llama', 'x', '--clip', 'c', '--adapter', 'y', '--out', 'z', '--precision', 'fp8'], /--precision must be fp32, fp16, int8 or int4/],
    [['serve'], /serve needs --stdio/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ];
  for (const [args, message] of cases) {
    it(args.join(' ') || '(none)', async () => {
      const r = await lavin(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    });
  }

  it('--json turns a usage error into an error event', async () => {
    const r = await lavin(['ask', '--json', '--nope']);
    assert.equal(r.code, 2);
    assert.equal(r.events[0].event, 'error');
    assert.match(String(r.events[0].message), /Unknown option '--nope'/);
  });

  it('--help prints usage and exits 0; no command prints usage and exits 2', async () => {
    const help = await lavin(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /lavin ask \[--model DIR\|FILE\.gguf\]/);
    assert.equal((await lavin([])).code, 2);
  });
});
