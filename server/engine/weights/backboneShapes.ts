// The tensors a backbone needs, with their shapes, for a spec (every file format checks against it).
import type { BackboneSpec } from './backboneSpec';

/** Every tensor the engine needs for this spec, with its shape ([out, in] for linears). */
export function expectedBackboneShapes(spec: BackboneSpec): Map<string, number[]> {
  const { dim, nLayers, nHeads, nKvHeads, headDim, ffnHidden, vocab, qkvBias, tiedEmbeddings } = spec.llama;
  const q = nHeads * headDim;
  const kv = nKvHeads * headDim;
  const m = new Map<string, number[]>([['tok_embeddings.weight', [vocab, dim]], ['norm.weight', [dim]]]);
  if (!tiedEmbeddings) m.set('output.weight', [vocab, dim]);
  for (let l = 0; l < nLayers; l++) {
    const L = `layers.${l}`;
    m.set(`${L}.attention_norm.weight`, [dim]);
    m.set(`${L}.attention.wq.weight`, [q, dim]);
    m.set(`${L}.attention.wk.weight`, [kv, dim]);
    m.set(`${L}.attention.wv.weight`, [kv, dim]);
    if (qkvBias) {
      m.set(`${L}.attention.wq.bias`, [q]);
      m.set(`${L}.attention.wk.bias`, [kv]);
      m.set(`${L}.attention.wv.bias`, [kv]);
    }
    m.set(`${L}.attention.wo.weight`, [dim, q]);
    m.set(`${L}.ffn_norm.weight`, [dim]);
    m.set(`${L}.feed_forward.w1.weight`, [ffnHidden, dim]);
    m.set(`${L}.feed_forward.w2.weight`, [dim, ffnHidden]);
    m.set(`${L}.feed_forward.w3.weight`, [ffnHidden, dim]);
  }
  return m;
}
