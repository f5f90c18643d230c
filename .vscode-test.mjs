// Integration tests in a real VS Code: @vscode/test-cli drives scripts/vscode-test-runner.mjs
// (code-server + headless Chromium) in place of the desktop VS Code it cannot download here.
//   vscode         code-server 4.100.3 = VS Code 1.100.3 on Node 20 (npm run test:vscode)
//   vscode-latest  code-server 4.139.1 = VS Code 1.10x+ on Node 24 from npm, which has the
//                  language model provider API (npm run test:vscode:latest)
import { defineConfig } from '@vscode/test-cli';
import { resolve } from 'node:path';

const common = {
  files: 'out/test/vscode/**/*.test.js',
  workspaceFolder: 'test/vscode/workspace',
  useInstallation: { fromPath: 'scripts/vscode-test-runner.mjs' },
  mocha: { ui: 'bdd', timeout: 180_000, color: false },
};

export default defineConfig([
  { ...common, label: 'vscode' },
  {
    ...common,
    label: 'vscode-latest',
    // the language model API suite; the UI suite's DOM probes are written for 1.100's workbench
    files: 'out/test/vscode/languageModel.test.js',
    env: {
      CODE_SERVER_DIR: resolve('.cache/code-server-4.139.1'),
      LAVIN_CODE_SERVER_SMOKE_DRIVER: '1',
      LAVIN_SCREENSHOT_DIR: resolve('.cache/screenshots-latest'), // README screenshots come from the main run
    },
  },
]);
