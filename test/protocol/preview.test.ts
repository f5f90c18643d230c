// lavin/previewTraining over the protocol: the docs dry run's counts, include globs (also passed
// through lavin/train), the workspace boundary and bad params. Needs no model.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import { LavinErrorCodes, PreviewTrainingRequest, PreviewTrainingResult, StatusRequest, TrainRequest, TrainResult } from '../../server/protocol';
import { FIXTURE_IMAGE, rpcError, ServerHandle, startServer, tempDir } from './serverProcess';

const LONG_BODY = 'The server answers lavin/chat, lavin/explain and lavin/train requests over stdio. '.repeat(5).trim();

const GUIDE = `# Install

Run npm ci and then npm run build; the command line is then available as npx lavin.

![Settings screen](img/shot.png "The settings panel")
![](img/shot.png)
![Missing diagram](img/nope.png)

## Short

Too short.

## Usage

Open the chat panel, paste a screenshot and ask a question about what it shows.
`;

/**
 * docs/
 *   .gitignore          drafts/
 *   api/reference.md    1 text sample (long: its example is shortened)
 *   blob.md             binary: skipped
 *   drafts/wip.md       ignored by .gitignore
 *   guide.md            2 text samples (the short section is dropped), 1 image sample, 1 missing image
 *   img/shot.png
 *   notes/faq.txt       1 text sample
 */
function writeDocs(docs: string): void {
  for (const dir of ['api', 'drafts', 'img', 'notes']) fs.mkdirSync(path.join(docs, dir), { recursive: true });
  fs.writeFileSync(path.join(docs, '.gitignore'), 'drafts/\n');
  fs.writeFileSync(path.join(docs, 'api/reference.md'), `# Endpoints\n\n${LONG_BODY}\n`);
  fs.writeFileSync(path.join(docs, 'blob.md'), Buffer.from([35, 32, 0, 1, 2, 3, 0, 255]));
  fs.writeFileSync(path.join(docs, 'drafts/wip.md'), '# Draft\n\nUnfinished notes that are ignored by the gitignore in the docs folder.\n');
  fs.writeFileSync(path.join(docs, 'guide.md'), GUIDE);
  fs.copyFileSync(FIXTURE_IMAGE, path.join(docs, 'img/shot.png'));
  fs.writeFileSync(path.join(docs, 'notes/faq.txt'), 'Questions come up about models, adapters and images; the answers live in this file.\n');
}

describe('lavin/previewTraining', () => {
  let s: ServerHandle;
  const preview = (params: unknown) => s.connection.sendRequest(PreviewTrainingRequest.method, params) as Promise<PreviewTrainingResult>;

  before(async () => {
    s = await startServer();
    writeDocs(path.join(s.workspace, 'docs'));
  });
  after(async () => s.stop());

  it('counts documents and samples the way training builds them, without loading a model', async () => {
    const r = await preview({ docs: 'docs' });
    assert.equal(r.documents, 4, 'reference.md, blob.md, guide.md, faq.txt');
    assert.equal(r.documentsUsed, 3);
    assert.equal(r.textSamples, 4);
    assert.equal(r.imageSamples, 1);
    assert.equal(r.samples, 5);
    const reasons = new Map(r.skipped.map((x) => [x.path, x.reason]));
    assert.equal(reasons.get('drafts'), 'ignored by .gitignore');
    assert.equal(reasons.get('blob.md'), 'binary content');
    assert.equal(reasons.get('guide.md -> img/nope.png'), 'image missing or not a supported format');
    assert.equal(r.skipped.length, 3);
    assert.equal(r.skippedTotal, 3);

    assert.equal(r.examples.length, 3);
    assert.equal(r.examples[0].prompt, 'Instruction: Explain "Endpoints" from api/reference.md.\nResponse:');
    assert.equal(r.examples[0].instruction, 'Explain "Endpoints" from api/reference.md.', 'the question without the prompt format, for the confirmation dialog');
    assert.ok(LONG_BODY.length > 300);
    assert.equal(r.examples[0].answer.length, 300);
    assert.ok(r.examples[0].answer.endsWith('…') && LONG_BODY.startsWith(r.examples[0].answer.slice(0, -1)));
    assert.match(r.examples[1].prompt, /Explain "Install" from guide\.md/);
    assert.match(r.examples[2].prompt, /Explain "Usage" from guide\.md/);
    assert.ok(r.examples.every((e) => e.image === undefined));

    const status = await s.connection.sendRequest(StatusRequest);
    assert.equal(status.model, null, 'the preview must not load a model');
  });

  it('include globs narrow the documents, and image samples follow their document', async () => {
    const guide = await preview({ docs: 'docs', include: ['guide.md'] });
    assert.deepEqual([guide.documents, guide.textSamples, guide.imageSamples, guide.samples], [1, 2, 1, 3]);
    assert.deepEqual(guide.examples[2], { prompt: 'Instruction: Describe this image.\nResponse:', instruction: 'Describe this image.', answer: 'Settings screen. The settings panel', image: 'img/shot.png' });

    const markdown = await preview({ docs: 'docs', include: ['**/*.md'] });
    assert.deepEqual([markdown.documents, markdown.textSamples, markdown.imageSamples], [3, 3, 1]);

    const some = await preview({ docs: 'docs', include: ['api/**', '**/*.txt'] });
    assert.deepEqual([some.documents, some.documentsUsed, some.textSamples, some.imageSamples], [2, 2, 2, 0]);
    assert.ok(!some.skipped.some((x) => x.path === 'blob.md'), 'files outside the globs are not read');

    const none = await preview({ docs: 'docs', include: ['**/*.rst'] });
    assert.deepEqual([none.documents, none.samples, none.examples.length], [0, 0, 0]);
  });

  it('lavin/train uses the same include globs', async () => {
    const r = (await s.connection.sendRequest(TrainRequest, { docs: 'docs', include: ['guide.md'], steps: 1, name: 'guide-only' })) as TrainResult;
    assert.equal(r.steps, 1);
    const meta = JSON.parse(fs.readFileSync(path.join(r.path, 'adapter.json'), 'utf8')) as { data: Record<string, unknown> };
    assert.deepEqual({ samples: meta.data.samples, image: meta.data.image, textSamples: meta.data.textSamples, imageSamples: meta.data.imageSamples }, {
      samples: 3, image: 1, textSamples: 2, imageSamples: 1,
    });
    const nothing = await rpcError(s.connection.sendRequest(TrainRequest, { docs: 'docs', include: ['**/*.rst'], steps: 1 }));
    assert.equal(nothing.code, -32602);
    assert.match(nothing.message, /no usable sections \(0 files matching \*\*\/\*\.rst scanned/);
  });

  it('refuses docs folders outside the workspace', async () => {
    const outside = tempDir('lavin-outside-docs-');
    writeDocs(outside);
    const abs = await rpcError(preview({ docs: outside }));
    assert.equal(abs.code, LavinErrorCodes.PathOutsideWorkspace);
    assert.match(abs.message, /docs folder .* is outside the workspace/);
    const escape = await rpcError(preview({ docs: '../' + path.basename(outside) }));
    assert.equal(escape.code, LavinErrorCodes.PathOutsideWorkspace);
    fs.symlinkSync(outside, path.join(s.workspace, 'linked-docs'));
    const linked = await rpcError(preview({ docs: 'linked-docs' }));
    assert.equal(linked.code, LavinErrorCodes.PathOutsideWorkspace, 'a symlink out of the workspace is followed and refused');
  });

  it('answers bad params with -32602 naming the field', async () => {
    const cases: [unknown, RegExp][] = [
      // No params at all: the JSON-RPC library hands the handler an empty object.
      [undefined, /docs must be a non-empty string/],
      [[], /params must be an object/],
      [{}, /docs must be a non-empty string/],
      [{ docs: 42 }, /docs must be a non-empty string/],
      [{ docs: 'docs', include: '**/*.md' }, /include must be an array/],
      [{ docs: 'docs', include: [] }, /include must list at least one glob pattern/],
      [{ docs: 'docs', include: ['**/*.md', 7] }, /include\[1\] must be a non-empty glob pattern/],
      [{ docs: 'docs', include: ['../**/*.md'] }, /include\[0\] "\.\.\/\*\*\/\*\.md" must be a pattern relative to the docs folder/],
      [{ docs: 'docs', include: ['/etc/**'] }, /include\[0\] "\/etc\/\*\*" must be a pattern relative/],
      [{ docs: 'no-such-folder' }, /docs folder no-such-folder does not exist or is not a folder/],
      [{ docs: 'docs/guide.md' }, /docs folder docs\/guide\.md does not exist or is not a folder/],
    ];
    for (const [params, message] of cases) {
      const e = await rpcError(params === undefined ? s.connection.sendRequest(PreviewTrainingRequest.method) : preview(params));
      assert.equal(e.code, -32602, `${JSON.stringify(params)}: ${e.message}`);
      assert.match(e.message, message);
    }
    const train = await rpcError(s.connection.sendRequest(TrainRequest, { docs: 'docs', include: ['../x'] }));
    assert.equal(train.code, -32602);
    assert.match(train.message, /include\[0\] "\.\.\/x" must be a pattern relative/);
  });
});
