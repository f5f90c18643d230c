// A VS Code language id from a file name, for callers (the CLI) that have no editor to ask.

import * as path from 'path';

const BY_EXTENSION: Record<string, string> = {
  '.ts': 'typescript', '.tsx': 'typescriptreact', '.js': 'javascript', '.jsx': 'javascriptreact', '.mjs': 'javascript', '.cjs': 'javascript',
  '.py': 'python', '.rs': 'rust', '.go': 'go', '.java': 'java', '.kt': 'kotlin', '.c': 'c', '.h': 'c', '.cc': 'cpp', '.cpp': 'cpp',
  '.hpp': 'cpp', '.cs': 'csharp', '.rb': 'ruby', '.php': 'php', '.swift': 'swift', '.sh': 'shellscript', '.bash': 'shellscript',
  '.json': 'json', '.md': 'markdown', '.html': 'html', '.css': 'css', '.scss': 'scss', '.sql': 'sql', '.yaml': 'yaml', '.yml': 'yaml',
  '.toml': 'toml', '.lua': 'lua', '.r': 'r', '.scala': 'scala', '.dart': 'dart', '.vue': 'vue', '.xml': 'xml',
};

export function languageIdFor(fileName: string): string {
  return BY_EXTENSION[path.extname(fileName).toLowerCase()] ?? 'plaintext';
}
