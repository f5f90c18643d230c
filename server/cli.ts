// `lavin`: the command line over the same model host the language server uses. The subcommands
// are listed in host/cli/registry.ts; each brings its own options, help text and run function.

import { helpText, parseFor } from './host/cli/command';
import { CliOutput } from './host/cli/output';
import { COMMANDS } from './host/cli/registry';
import { usage, UsageError } from './host/cli/usage';
import { disableNetwork } from './host/noNetwork';
import { nodeTrainingPort } from './host/trainingPort';

/** Runs a command line; resolves to the exit code. */
export async function main(argv: string[], signal: AbortSignal = new AbortController().signal): Promise<number> {
  disableNetwork();
  const [name, ...rest] = argv;
  const jsonRequested = rest.includes('--json');
  const out = new CliOutput(jsonRequested);
  const ctx = { out, signal, training: nodeTrainingPort() };
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
      process.stdout.write(topic ? helpText(topic) : usage(COMMANDS));
      return name === undefined ? 2 : 0;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    // --help wins over everything else on the line, even options the command would reject.
    const flags = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
    if (flags.includes('--help') || flags.includes('-h')) {
      process.stdout.write(helpText(command));
      return 0;
    }
    await command.run(parseFor(command, rest), ctx);
    // Interrupted work that stopped cleanly (partial answer shown, checkpoint saved) still exits 130.
    return signal.aborted ? 130 : 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    out.error(message);
    if (err instanceof UsageError) {
      if (!jsonRequested) process.stderr.write(`run "lavin ${COMMANDS.some((c) => c.name === name) ? `${name} ` : ''}--help" for usage\n`);
      return 2;
    }
    return signal.aborted ? 130 : 1;
  }
}

/**
 * Runs this process's command line (bin/lavin.js, or `node out/server/cli.js ...`) and exits with
 * its code. The first Ctrl-C stops the work cleanly (training keeps its checkpoint), a second quits
 * at once. A reader that goes away (`lavin train --json | head -3`) stops the work the same way, as
 * SIGPIPE stops a C tool, instead of an EPIPE crash with a stack trace.
 */
export function runProcess(): void {
  const controller = new AbortController();
  process.on('SIGINT', () => (controller.signal.aborted ? process.exit(130) : controller.abort()));
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    controller.abort(); // later writes fail the same way and land here too
  });
  const exit = (code: number) => (process.stdout.destroyed || process.stdout.writableEnded ? process.exit(code) : process.stdout.write('', () => process.exit(code)));
  main(process.argv.slice(2), controller.signal).then(exit, (err: unknown) => {
    process.stderr.write(`lavin: internal error: ${(err instanceof Error && err.stack) || String(err)}\n`);
    process.exit(1);
  });
}

if (require.main === module) runProcess();
