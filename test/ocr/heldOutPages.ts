// Pages kept OUT of the reader's tuning, to see whether its rules carry over to screens they were not
// shaped on. Written by the session's coordinator after the rules of test/ocr/screenPages.ts; the
// helpers who tuned server/engine/ocr never saw these files. Two groups, reported apart:
// - 'feedback' (a git diff and a server log in a terminal, a CI notification card, an API-key form): the
//   KINDS of their misses (never the strings) were told to the helpers, so they are no longer blind;
//   kept to show what moved and to catch regressions.
// - 'unseen' (an npm audit table, a troubleshooting page with inline code): nothing about them reached
//   anyone tuning the reader before they were first measured.
// Same styles, themes, scales and formats as the main set (pageHtml, renderScreens).

import { esc, Lang, ScreenPage } from './screenPages';

const terminal = (lines: string[]) => `<div class="terminal">${lines.map((l) => `<div>${esc(l)}</div>`).join('')}</div>`;

function diff(lang: Lang): ScreenPage {
  const lines = lang === 'en'
    ? [
      'diff --git a/src/server/auth.ts b/src/server/auth.ts',
      '@@ -12,7 +12,9 @@ export function verify(token: string) {',
      '-  if (!token) return { ok: false };',
      "+  if (!token) return { ok: false, reason: 'missing token' };",
      '+  const claims = decode(token);',
      '+  if (claims.exp * 1000 < Date.now()) throw new AuthError("expired");',
    ]
    : [
      'diff --git a/docs/部署说明.md b/docs/部署说明.md',
      '@@ -3,4 +3,6 @@',
      '-运行 docker compose up 启动服务。',
      '+先运行 npm ci 安装依赖，再运行 docker compose up -d 启动服务。',
      '+注意：端口 8080 不能被占用（见 config/ports.yaml）。',
      '+如果启动失败，请查看日志 logs/server-2026-12.log。',
    ];
  return { category: 'diff', lang, body: terminal(lines), expect: lines.map((l) => l.trim()) };
}

function notification(lang: Lang): ScreenPage {
  const t = lang === 'en'
    ? {
      head: 'Build failed on main #4821', who: 'ci-bot · 2 minutes ago', msg: 'Job "test (node 20)" failed after 6m 12s. Exit code 1.',
      err: 'AssertionError: expected 404 to equal 200', at: 'at Context.<anonymous> (test/api/users.spec.js:57:24)',
      logs: 'View logs', rerun: 'Re-run job', foot: 'Last successful build: #4817 on Dec 3, 2026',
    }
    : {
      head: '主分支构建失败 #4821', who: 'ci-bot · 2 分钟前', msg: '任务“test (node 20)”运行 6 分 12 秒后失败，退出码 1。',
      err: 'AssertionError: expected 404 to equal 200', at: 'at Context.<anonymous> (test/api/users.spec.js:57:24)',
      logs: '查看日志', rerun: '重新运行', foot: '上次成功构建：#4817（2026 年 12 月 3 日）',
    };
  return {
    category: 'notification', lang,
    body: `<div class="dialog"><h2>${esc(t.head)}</h2><p class="desc">${esc(t.who)}</p><p>${esc(t.msg)}</p><p class="error">${esc(t.err)}</p><p class="error">${esc(t.at)}</p><div class="buttons"><span class="button secondary">${esc(t.logs)}</span><span class="button primary">${esc(t.rerun)}</span></div><p class="desc">${esc(t.foot)}</p></div>`,
    expect: Object.values(t),
  };
}

function serverLog(lang: Lang): ScreenPage {
  const lines = lang === 'en'
    ? [
      '2026-12-04T09:14:07.512Z INFO  server listening on http://127.0.0.1:3000',
      '2026-12-04T09:14:09.031Z WARN  slow query (1843 ms): SELECT * FROM orders WHERE user_id = $1',
      '2026-12-04T09:14:11.220Z ERROR ECONNREFUSED 10.0.3.7:5432 - is the database running?',
      '[retry 2/5] next attempt in 4s',
    ]
    : [
      '2026-12-04 09:14:07 信息 服务已启动，监听端口 3000',
      '2026-12-04 09:14:09 警告 查询耗时 1843 毫秒：SELECT * FROM orders',
      '2026-12-04 09:14:11 错误 无法连接数据库 10.0.3.7:5432（连接被拒绝）',
      '[重试 2/5] 4 秒后再次尝试',
    ];
  return { category: 'log', lang, body: terminal(lines), expect: lines };
}

function apiKeyForm(lang: Lang): ScreenPage {
  const t = lang === 'en'
    ? {
      h: 'Create API key', l1: 'Key name', v1: 'deploy-bot (staging)', e1: 'Name must be 3-32 characters; only letters, digits and "-".',
      l2: 'Expires', v2: 'in 90 days', note: 'You will not be able to see this key again after you close this page.', b: 'Create key',
    }
    : {
      h: '创建 API 密钥', l1: '密钥名称', v1: 'deploy-bot (staging)', e1: '名称须为 3-32 个字符，只能包含字母、数字和“-”。',
      l2: '有效期', v2: '90 天', note: '关闭此页面后将无法再次查看该密钥。', b: '创建密钥',
    };
  return {
    category: 'form', lang,
    body: `<div class="dialog"><h2>${esc(t.h)}</h2><label>${esc(t.l1)}</label><div class="input">${esc(t.v1)}</div><p class="error">${esc(t.e1)}</p><label>${esc(t.l2)}</label><div class="input">${esc(t.v2)}</div><p class="desc">${esc(t.note)}</p><div class="buttons"><span class="button primary">${esc(t.b)}</span></div></div>`,
    expect: Object.values(t),
  };
}

function auditTable(lang: Lang): ScreenPage {
  const rows = lang === 'en'
    ? [['Package', 'Severity', 'Fixed in', 'Path'], ['lodash', 'High', '4.17.21', 'app > lodash'], ['semver', 'Moderate', '7.5.2', 'app > node-gyp > semver'], ['ws', 'Critical', '8.17.1', 'app > socket.io > ws']]
    : [['软件包', '严重程度', '修复版本', '路径'], ['lodash', '高', '4.17.21', 'app > lodash'], ['semver', '中', '7.5.2', 'app > node-gyp > semver'], ['ws', '严重', '8.17.1', 'app > socket.io > ws']];
  const title = lang === 'en' ? '3 vulnerabilities (1 moderate, 1 high, 1 critical)' : '发现 3 个漏洞（1 个中危，1 个高危，1 个严重）';
  const hint = lang === 'en' ? 'Run `npm audit fix --force` to install breaking changes.' : '运行 `npm audit fix --force` 以安装不兼容的更新。';
  return {
    category: 'audit', lang,
    body: `<h2>${esc(title)}</h2><table>${rows.map((r, i) => `<tr>${r.map((c) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`).join('')}</table><p>${esc(hint)}</p>`,
    expect: [title, ...rows.flat(), hint],
  };
}

function troubleshooting(lang: Lang): ScreenPage {
  const t = lang === 'en'
    ? {
      h: 'Troubleshooting', p1: 'If the build fails with "Cannot find module \'sharp\'", reinstall it:', code: 'npm rebuild sharp --verbose',
      p2: 'On Windows, close VS Code first (the file may be locked).', p3: 'Still failing? Open an issue and attach build.log (max. 10 MB).',
    }
    : {
      h: '故障排除', p1: '如果构建失败并提示“Cannot find module \'sharp\'”，请重新安装：', code: 'npm rebuild sharp --verbose',
      p2: '在 Windows 上，请先关闭 VS Code（文件可能被锁定）。', p3: '仍然失败？请提交 issue 并附上 build.log（最大 10 MB）。',
    };
  return {
    category: 'troubleshooting', lang,
    body: `<h2>${esc(t.h)}</h2><p>${esc(t.p1)}</p><div class="input" style="font-family: 'DejaVu Sans Mono', monospace">${esc(t.code)}</div><p>${esc(t.p2)}</p><p>${esc(t.p3)}</p>`,
    expect: Object.values(t),
  };
}

export type HeldOutGroup = 'feedback' | 'unseen';

export function heldOutPages(group: HeldOutGroup): ScreenPage[] {
  const kinds = group === 'feedback' ? [diff, notification, serverLog, apiKeyForm] : [auditTable, troubleshooting];
  return (['en', 'zh'] as const).flatMap((lang) => kinds.map((k) => k(lang)));
}
