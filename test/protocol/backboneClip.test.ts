// The extension's lavin.clipFile setting reaches the backend as initializationOptions.clip: a GGUF
// backbone loaded lazily on the first request opens with that CLIP (the status's model.clip),
// and without it, with none (no mmproj beside the file).

import * as assert from 'assert/strict';
import * as path from 'path';
import { after, describe, it } from 'node:test';
import { LoadModelRequest } from '../../server/protocol';
import { randomClip, writeHfClipFolder, type ClipGeometry } from '../helpers/clipFiles';
import { writeTinyBackboneGguf } from '../helpers/tinyBackbone';
import { ServerHandle, startServer, tempDir } from './serverProcess';

const CLIP: ClipGeometry = { width: 32, heads: 2, patch: 14, resolution: 56, layers: 6 };

describe('a backbone\'s CLIP from the initialization options', () => {
  const dir = tempDir('lavin-backbone-clip-');
  const gguf = path.join(dir, 'tiny-q4_0.gguf');
  const clip = path.join(dir, 'towers', 'hf-clip');
  writeTinyBackboneGguf(gguf);
  writeHfClipFolder(clip, randomClip(CLIP), CLIP);
  const servers: ServerHandle[] = [];
  after(async () => Promise.all(servers.map((s) => s.stop())));

  it('initializationOptions.clip: the lazily loaded backbone has that CLIP (ModelInfo.clip)', async () => {
    const s = await startServer({ modelDir: gguf, clip });
    servers.push(s);
    const st = await s.connection.sendRequest(LoadModelRequest, {});
    assert.equal(st.model?.dir, gguf);
    assert.deepEqual(st.model?.clip && { width: st.model.clip.width, layers: st.model.clip.layers, resolution: st.model.clip.resolution }, { width: 32, layers: 6, resolution: 56 });
  });

  it('without it: no CLIP (nothing stored beside the file)', async () => {
    const s = await startServer({ modelDir: gguf });
    servers.push(s);
    const st = await s.connection.sendRequest(LoadModelRequest, {});
    assert.equal(st.model?.dir, gguf);
    assert.equal(st.model?.clip, undefined);
  });
});
