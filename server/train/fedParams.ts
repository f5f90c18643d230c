// The parameters of a per-block training graph (blockwise.ts) as graph inputs, fed per run: one
// graph serves every layer, so weights live once in host memory. Frozen 2-D float weights come
// pre-transposed (or as float16); quantised linears come as their blocks (codes, scales, zero
// points, GGUF's offsets) and are rebuilt in float32 chunk by chunk inside the graph.

import { Builder } from '../engine/graph/builder';
import { timesWeightT } from '../engine/graph/dequantize';
import { Graph, Value } from '../engine/graph/graph';
import { layOutGraph, ParamLayout, TRANSPOSE } from '../engine/graph/layouts';
import { linear } from '../engine/graph/nn';
import { ParamSource } from '../engine/graph/params';
import { llamaLinearPolicy } from '../engine/lavin';
import { QuantizedWeight } from '../engine/quant';
import { HostTensor } from '../engine/tensor';

/** Every parameter a graph needs is a graph input; frozen 2-D weights come pre-transposed. */
export class FedParams implements ParamSource {
  private readonly made = new Map<string, Value>();
  /** Input name -> source tensor, transposed or not, as float32 or float16. */
  readonly feeds = new Map<string, FeedSpec>();

  constructor(
    private readonly tensors: ReadonlyMap<string, HostTensor>,
    private readonly trainable: ReadonlySet<string>,
    /** Feed the frozen LLaMA linear weights as float16 (cast to float32 in the graph). */
    private readonly half = false,
    /** The quantised weight of a (layer-0) name for the layer this graph is built for. */
    private readonly quantizedOf: (name: string) => QuantizedWeight | undefined = () => undefined,
  ) {}
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  shape(name: string): number[] {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`missing parameter ${name}`);
    return t.shape;
  }
  param(b: Builder, name: string): Value {
    let v = this.made.get(name);
    if (!v) {
      v = b.input(name, 'float32', this.shape(name).slice());
      this.made.set(name, v);
      this.feeds.set(name, { name, transposed: false, half: false });
    }
    return v;
  }
  paramT(b: Builder, name: string): Value {
    if (this.trainable.has(name) || this.shape(name).length !== 2) return this.paramAs(b, name, TRANSPOSE);
    const key = `${name}.T`;
    let v = this.made.get(key);
    if (!v) {
      const [r, c] = this.shape(name);
      v = b.input(key, 'float32', [c, r]);
      this.made.set(key, v);
      this.feeds.set(key, { name, transposed: true, half: false });
    }
    return v;
  }
  /** Layouts as graph ops on the fed parameter (gradients flow through them). */
  paramAs(b: Builder, name: string, layout: ParamLayout): Value {
    return layOutGraph(b, this.param(b, name), this.shape(name), layout, name);
  }
  linear(b: Builder, x: Value, name: string, bias?: Value): Value {
    const q = this.trainable.has(name) || this.tensors.has(name) ? undefined : this.quantizedOf(name);
    if (q) return this.quantizedLinear(b, x, name, q, bias);
    if (!this.half || this.trainable.has(name) || !llamaLinearPolicy('fp16').applies!(name)) return linear(b, x, this.paramT(b, name), bias);
    const key = `${name}.T.fp16`;
    let v = this.made.get(key);
    if (!v) {
      const [r, c] = this.shape(name);
      v = b.input(key, 'float16', [c, r]);
      this.made.set(key, v);
      this.feeds.set(key, { name, transposed: true, half: true });
    }
    return linear(b, x, b.cast(v, 'float32'), bias);
  }
  /**
   * x @ W^T with W fed in its blocks (codes, scales, zero points, and GGUF's per-block offsets as
   * [blocks, N]), rebuilt in float32 a chunk of rows at a time, again for the input gradient.
   */
  private quantizedLinear(b: Builder, x: Value, name: string, q: QuantizedWeight, bias?: Value): Value {
    const key = `${name}.q${q.bits}`;
    const fed = (suffix: string, part: QuantPart, dtype: 'uint8' | 'float32', shape: number[]) => {
      const input = `${key}${suffix}`;
      let v = this.made.get(input);
      if (!v) {
        v = b.input(input, dtype, shape);
        this.made.set(input, v);
        this.feeds.set(input, { name, transposed: false, half: false, part });
      }
      return v;
    };
    const blocks = Math.ceil(q.k / q.blockSize);
    const packed = fed('', 'packed', 'uint8', q.packed.shape);
    const scales = fed('.scales', 'scales', 'float32', q.scales.shape);
    const zeroPoints = fed('.zero_points', 'zeroPoints', 'uint8', q.zeroPoints.shape);
    // Fed (not initializer) codes: MatMulNBits' kernel would unpack them on every call (measured
    // 18x slower than an fp32 MatMul); rebuilding float rows chunk by chunk is cheaper.
    let y = timesWeightT(b, x, { packed, scales, zeroPoints, shape: q });
    if (q.offsets) {
      // W = (q - zp) * scale + offset: the offsets multiply the activations' per-block sums.
      const lead = x.shape!.slice(0, -1).map(() => 0);
      const sums = b.reduceSum(b.reshape(x, [...lead, blocks, q.blockSize]), [-1], false);
      y = b.add(y, b.matmul(sums, fed('.offsets', 'offsetsT', 'float32', [blocks, q.n])));
    }
    return bias ? b.add(y, bias) : y;
  }
  /** The graph's parameter inputs that are trainable. */
  trainableInputs(g: Graph): Value[] {
    return g.inputs.filter((v) => this.trainable.has(v.name));
  }
}

export type QuantPart = 'packed' | 'scales' | 'zeroPoints' | 'offsetsT';

export interface FeedSpec {
  name: string;
  transposed: boolean;
  half: boolean;
  /** A part of the quantised weight `name`. */
  part?: QuantPart;
}
