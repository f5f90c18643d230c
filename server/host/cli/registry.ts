// Every `lavin` subcommand, in the order `lavin --help` lists them. Adding one: a <name>Command.ts
// exporting a CliCommand, and one line here.

import { CliCommand } from './command';
import { askCommand } from './askCommand';
import { explainCommand } from './explainCommand';
import { trainCommand } from './trainCommand';
import { convertCommand } from './convertCommand';
import { evalCommand } from './evalCommand';
import { modelsCommand } from './modelsCommand';
import { serveCommand } from './serveCommand';
import { adaptersCommand } from './adaptersCommand';
import { tokenizeCommand } from './tokenizeCommand';
import { ocrCommand } from './ocrCommand';

export const COMMANDS: readonly CliCommand[] = [
  askCommand,
  explainCommand,
  trainCommand,
  convertCommand,
  evalCommand,
  adaptersCommand,
  modelsCommand,
  tokenizeCommand,
  ocrCommand,
  serveCommand,
];
