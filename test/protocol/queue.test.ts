// The host's per-model queue, in-process: order, the training policy, cancellation while waiting.

import * as assert from 'assert/strict';
import { describe, it } from 'node:test';
import { LavinErrorCodes } from '../../server/protocol';
import { ModelQueue } from '../../server/host/queue';

const tick = () => new Promise<void>((r) => setImmediate(r));

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe('ModelQueue', () => {
  it('runs jobs one at a time in arrival order', async () => {
    const q = new ModelQueue();
    const log: string[] = [];
    const g = gate();
    const a = q.run('generating', async () => { log.push('a+'); await g.p; log.push('a-'); });
    const b = q.run('generating', async () => { log.push('b+'); log.push('b-'); });
    const c = q.run('loading', async () => { log.push('c+'); log.push('c-'); });
    await tick();
    assert.equal(q.activity, 'generating');
    assert.equal(q.queued, 2);
    g.open();
    await Promise.all([a, b, c]);
    assert.deepEqual(log, ['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
    assert.equal(q.activity, 'idle');
  });

  it('rejects generation while training holds the model, or waits when asked to', async () => {
    const q = new ModelQueue();
    const g = gate();
    const training = q.run('training', () => g.p, { label: 'training adapter set docs' });
    await tick();
    await assert.rejects(q.run('generating', async () => 1), (e: { code: number; message: string }) => {
      assert.equal(e.code, LavinErrorCodes.Busy);
      assert.match(e.message, /busy training adapter set docs/);
      return true;
    });
    let ran = false;
    const waiting = q.run('generating', async () => (ran = true), { whileTraining: 'wait' });
    await tick();
    assert.equal(ran, false);
    g.open();
    await training;
    await waiting;
    assert.equal(ran, true);
  });

  it('a waiting job whose signal aborts leaves the queue with RequestCancelled; others still run', async () => {
    const q = new ModelQueue();
    const g = gate();
    const first = q.run('generating', () => g.p);
    const ac = new AbortController();
    const second = q.run('generating', async () => 'second', { signal: ac.signal });
    const third = q.run('generating', async () => 'third');
    await tick();
    ac.abort();
    await assert.rejects(second, (e: { code: number }) => e.code === -32800);
    assert.equal(q.queued, 1);
    g.open();
    await first;
    assert.equal(await third, 'third');
  });

  it('a failing job frees the model for the next', async () => {
    const q = new ModelQueue();
    const bad = q.run('generating', async () => { throw new Error('boom'); });
    const good = q.run('generating', async () => 'ok');
    await assert.rejects(bad, /boom/);
    assert.equal(await good, 'ok');
  });

  it('refuses more waiting jobs than its limit', async () => {
    const q = new ModelQueue(1);
    const g = gate();
    const running = q.run('generating', () => g.p);
    const waiting = q.run('generating', async () => 1);
    await tick();
    await assert.rejects(q.run('generating', async () => 2), (e: { code: number }) => e.code === LavinErrorCodes.QueueFull);
    g.open();
    await running;
    await waiting;
  });
});
