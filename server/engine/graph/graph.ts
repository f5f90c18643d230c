// The ONNX graph IR the model definition is written against. Values carry dtype and (where known)
// shape, so graphs with static shapes — training graphs — can be differentiated without running
// shape inference in onnxruntime. Symbolic dims are strings ("seq", "past").

import { DType, HostTensor, numel } from '../tensor';

export type Dim = number | string;

export class Value {
  constructor(
    readonly name: string,
    readonly dtype: DType,
    /** undefined = unknown rank. */
    readonly shape: Dim[] | undefined,
  ) {}
  get rank(): number {
    if (!this.shape) throw new Error(`value ${this.name}: rank unknown`);
    return this.shape.length;
  }
  /** The static size of dim i, or an error naming the value. */
  dim(i: number): number {
    const s = this.shape;
    if (!s) throw new Error(`value ${this.name}: shape unknown`);
    const d = s[i < 0 ? s.length + i : i];
    if (typeof d !== 'number') throw new Error(`value ${this.name}: dim ${i} is symbolic (${d})`);
    return d;
  }
}

export type Attr =
  | { i: number }
  | { f: number }
  | { s: string }
  | { ints: number[] }
  | { floats: number[] }
  | { t: HostTensor };

export interface Node {
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
  name: string;
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly initializers = new Map<string, HostTensor>();
  /** Every value by name, for passes (autodiff) that walk the graph. */
  readonly values = new Map<string, Value>();
  private counter = 0;

  constructor(readonly name: string) {}

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  addValue(v: Value): Value {
    if (this.values.has(v.name) && this.values.get(v.name) !== v) throw new Error(`graph ${this.name}: value ${v.name} defined twice`);
    this.values.set(v.name, v);
    return v;
  }

  addInput(name: string, dtype: DType, shape: Dim[]): Value {
    const v = this.addValue(new Value(name, dtype, shape));
    this.inputs.push(v);
    return v;
  }

  addInitializer(name: string, tensor: HostTensor): Value {
    if (this.initializers.has(name)) throw new Error(`graph ${this.name}: initializer ${name} added twice`);
    if (tensor.data.byteLength !== numel(tensor.shape) * bytesOf(tensor.dtype)) {
      throw new Error(`initializer ${name}: ${tensor.data.byteLength} bytes for ${tensor.dtype}[${tensor.shape}]`);
    }
    this.initializers.set(name, tensor);
    return this.addValue(new Value(name, tensor.dtype, tensor.shape.slice()));
  }

  addOutput(v: Value): void {
    this.outputs.push(v);
  }

  addNode(node: Node, outs: Value[]): void {
    this.nodes.push(node);
    for (const o of outs) this.addValue(o);
  }
}

function bytesOf(d: DType): number {
  return { float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 }[d];
}
