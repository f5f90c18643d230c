// `lavin COMMAND --help`: every registered subcommand prints its own text (every option, its
// default, an example) and exits 0.

import * as assert from 'assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../server/host/cli/registry';
import { lavin } from './runLavin';

describe('lavin COMMAND --help', () => {
  for (const command of COMMANDS) {
    it(`${command.name} --help prints its own options, defaults and an example`, async () => {
      const r = await lavin([command.name, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.ok(r.stdout.startsWith(`lavin ${command.name}: `), r.stdout);
      assert.match(r.stdout, new RegExp(`usage: lavin ${command.name} `));
      for (const [key, o] of Object.entries(command.options)) {
        const line = r.stdout.split('\n').findIndex((l) => l.trimStart().startsWith(`--${key}`) || l.includes(`, --${key}`));
        assert.ok(line >= 0, `--${key} is not in the help of ${command.name}`);
        // The description may wrap onto the next line after a long flag.
        if (o.default !== undefined) assert.ok(r.stdout.split('\n').slice(line, line + 2).join(' ').includes(`(default: ${o.default})`), `--${key}'s default`);
      }
      assert.match(r.stdout, /\nexamples?:\n  lavin /);
      // Not the global block.
      assert.doesNotMatch(r.stdout, /^commands:/m);
    });
  }

  it('says sampling is greedy unless --temperature is given', async () => {
    for (const name of ['ask', 'explain']) {
      const r = await lavin([name, '-h']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /--temperature T[^\n]*\(default: 0, greedy and deterministic: sampling happens only when --temperature is above 0\)/);
    }
  });

  it('--help wins over bad options; "lavin help CMD" is the same text', async () => {
    const bad = await lavin(['ask', '--bogus', '--help']);
    assert.equal(bad.code, 0, bad.stderr);
    const viaHelp = await lavin(['help', 'train']);
    assert.equal(viaHelp.code, 0);
    assert.equal(viaHelp.stdout, (await lavin(['train', '--help'])).stdout);
  });

  it('the global help lists every command and points at COMMAND --help', async () => {
    const r = await lavin(['--help']);
    assert.equal(r.code, 0);
    for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c.name} +\\S`, 'm'));
    assert.match(r.stdout, /"lavin COMMAND --help"/);
  });

  it('a usage error points at the command\'s own help', async () => {
    const r = await lavin(['explain']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /run "lavin explain --help" for usage/);
  });
});
