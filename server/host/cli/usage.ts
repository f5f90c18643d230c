// Usage text and the error for bad command lines (exit code 2).

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `lavin: local LaVIN (LLaMA + CLIP with mixture-of-modality adapters), offline.

usage:
  lavin ask [--model DIR] [--image FILE] [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S] [--json] "question"
  lavin explain [--model DIR] [sampling flags] [--json] FILE[:START-END]
  lavin train [--model DIR] --docs DIR [--include GLOB]... [--dry-run] [--steps N] [--out DIR] [--name NAME] [--resume] [--json]
  lavin convert --llama DIR --clip FILE --adapter FILE [--tokenizer FILE] [--clip-heads N]
                [--precision fp32|fp16|int8|int4] [--copy] [--name NAME] --out DIR [--json]
  lavin eval --scienceqa DIR [--split test] [--limit N] [--greedy] [--unparsed wrong|random] [--model DIR] [sampling flags] [--json]
  lavin ocr FILE [--json]
  lavin serve --stdio

--device auto|cpu|cuda|webgpu (ask, explain, train) picks the execution provider (default auto).
--model defaults to the embedded tiny model (random weights: it answers gibberish; see models/README.md).
--json prints one JSON object per line; errors are {"event":"error","message":...} with a non-zero exit.
Exit codes: 0 ok, 1 failure, 2 bad command line, 130 interrupted.
`;
