// The global usage text (built from the registered subcommands) and the error for bad command lines (exit code 2).

/** What the usage text shows of a command: CliCommand's fields, named here (importing command.ts would close the loop command -> commands -> usage). */
type CommandLine = { name: string; summary: string; synopsis: string };

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function usage(commands: readonly CommandLine[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `lavin: local LaVIN (LLaMA + CLIP with mixture-of-modality adapters), offline.

commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

usage:
${commands.map((c) => `  lavin ${c.name} ${c.synopsis}`).join('\n')}

"lavin COMMAND --help" shows every option of a command with its default and an example.
--model defaults to the embedded tiny model (random weights: it answers gibberish; see models/README.md).
Sampling is greedy (deterministic) unless --temperature is above 0.
--json prints one JSON object per line; errors are {"event":"error","message":...} with a non-zero exit.
Exit codes: 0 ok, 1 failure, 2 bad command line, 130 interrupted.
`;
}
