// The side panel's "read from image" list: collapsed under the question, hovering a line outlines its
// box on the thumbnail, the route badge says what the model saw; pasted images carry their size.

import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { startHarness, openChat, cspViolations, Harness, repoRoot } from './harness';
import type { ChatTurn, FromWebview } from '../../extension/chat/messages';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

const example = path.join(repoRoot, 'media/examples/settings-dialog.png');

test('read-from-image list under the question; hover outlines the line on the thumbnail; badge says what was seen', async () => {
  const thumb = `data:image/png;base64,${(await sharp(fs.readFileSync(example)).resize(96).png().toBuffer()).toString('base64')}`;
  const lines: NonNullable<ChatTurn['imageLines']> = [
    { text: 'Connect to cluster', box: [139, 96, 328, 116], confidence: 0.99 },
    { text: 'Token expired 3 days ago. Generate a new one.', box: [138, 303, 427, 323], confidence: 0.98 },
  ];
  const chat = await openChat(h);
  const page = chat.page;
  await chat.send({
    type: 'state',
    busy: false,
    turns: [
      { id: 'u1', role: 'user', text: 'Why can I not connect?', images: [{ name: 'settings-dialog.png', mime: 'image/png', thumb, width: 800, height: 480 }], imageLines: lines },
      { id: 'a1', role: 'assistant', text: 'The token expired.', route: 'image', routerWeights: [[0.2, 0.8]], seen: { visualTokens: 6, textLines: 2 } },
    ],
  });
  const details = page.locator('article.user details.read-from-image');
  await details.waitFor();
  assert.equal(await details.locator('summary').textContent(), 'Read from image (2 lines)');
  assert.equal(await details.getAttribute('open'), null, 'collapsed at first');
  assert.equal(await page.locator('article.assistant .badge').textContent(), 'image path · 6 visual tokens + 2 lines of text');

  await details.locator('summary').click();
  const items = details.locator('li');
  assert.deepEqual(await items.allTextContents(), lines.map((l) => l.text));
  const outline = page.locator('article.user .read-box');
  assert.equal(await outline.isHidden(), true);
  await items.nth(1).hover();
  await outline.waitFor({ state: 'visible' });
  const img = page.locator('article.user .thumb-frame img.thumb');
  const [ib, ob] = [await img.boundingBox(), await outline.boundingBox()];
  assert.ok(ib && ob);
  const s = ib.width / 800;
  const near = (a: number, b: number) => Math.abs(a - b) <= 1.5;
  assert.ok(near(ob.x - ib.x, 138 * s) && near(ob.y - ib.y, 303 * (ib.height / 480)), `outline at ${ob.x - ib.x},${ob.y - ib.y}`);
  assert.ok(near(ob.width, (427 - 138) * s), `outline width ${ob.width}`);
  await page.mouse.move(0, 0);
  await outline.waitFor({ state: 'hidden' });
  // keyboard: focusing a line outlines it too
  await items.nth(0).focus();
  await outline.waitFor({ state: 'visible' });
  assert.deepEqual(chat.problems, []);
  assert.deepEqual(await cspViolations(page), []);
  await page.close();
});

test('an image question without text says so; a text answer keeps the plain badge; pasted images carry their size', async () => {
  const chat = await openChat(h);
  const page = chat.page;
  const png = fs.readFileSync(path.join(repoRoot, 'test/data/images/inputs/rgb-150x97.png')).toString('base64');
  await chat.send({
    type: 'state',
    busy: false,
    turns: [
      { id: 'u1', role: 'user', text: 'what is this?', images: [{ name: 'x.png', mime: 'image/png', thumb: `data:image/png;base64,${png}`, width: 150, height: 97 }], imageLines: [] },
      { id: 'a1', role: 'assistant', text: 'a photo', route: 'image', routerWeights: [[0.5, 0.5]], seen: { visualTokens: 6, textLines: 0 } },
      { id: 'u2', role: 'user', text: 'and in words?' },
      { id: 'a2', role: 'assistant', text: 'words', route: 'text', routerWeights: [[0.9, 0.1]] },
    ],
  });
  await page.locator('article.user details.read-from-image').waitFor();
  assert.equal(await page.locator('article.user details.read-from-image summary').textContent(), 'Read from image: no text');
  assert.equal(await page.locator('article.user details.read-from-image').count(), 1, 'only the turn with an image');
  assert.deepEqual(await page.locator('article.assistant .badge').allTextContents(), ['image path · 6 visual tokens + 0 lines of text', 'text path']);

  await page.evaluate((b64) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'shot.png', { type: 'image/png' }));
    document.getElementById('input')!.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, png);
  await page.waitForSelector('#attachments .attachment img.thumb');
  await page.locator('#input').fill('read it');
  await page.locator('#send').click();
  const sent = (await chat.posted()).find((m) => m.type === 'send') as Extract<FromWebview, { type: 'send' }>;
  assert.equal(sent.images[0].width, 150);
  assert.equal(sent.images[0].height, 97);
  await page.close();
});
