// Which execution provider ran each node of a GPU session, from onnxruntime's profile of its first
// run: nodes the GPU provider declined fall back to the CPU provider silently (and slowly), so they
// are listed in the log with the reason. onnxruntime-node 1.30 exposes no placement API; its verbose
// log ("Node placements") goes to the native stderr, which a Node process cannot capture, while the
// profile is a JSON file whose node events name their provider and output types.

import * as fs from 'fs';
import type * as ort from 'onnxruntime-node';
import * as os from 'os';
import * as path from 'path';

interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: { op_name?: string; provider?: string; output_type_shape?: Record<string, number[]>[] };
}

export interface Placement {
  /** Nodes per provider (onnxruntime's names, e.g. WebGpuExecutionProvider). */
  byProvider: Record<string, number>;
  /** Nodes that ran on the CPU provider, grouped by op type and reason. */
  onCpu: { op: string; count: number; reason: string }[];
}

/** Nodes whose outputs are all integers: shape arithmetic onnxruntime keeps on the CPU on purpose. */
function isShapeArithmetic(e: ProfileEvent): boolean {
  const outs = e.args?.output_type_shape ?? [];
  return outs.length > 0 && outs.every((o) => Object.keys(o).every((t) => t === 'int64' || t === 'int32' || t === 'bool'));
}

/** Where each node of one run went, from the events of an onnxruntime profile. */
export function summarizePlacement(events: ProfileEvent[]): Placement {
  const byProvider: Record<string, number> = {};
  const cpu = new Map<string, { op: string; count: number; reason: string }>();
  const seen = new Set<string>();
  for (const e of events) {
    const provider = e.args?.provider;
    if (e.cat !== 'Node' || !provider || !e.name?.endsWith('_kernel_time')) continue;
    if (seen.has(e.name)) continue; // a node runs once per run; count it once
    seen.add(e.name);
    byProvider[provider] = (byProvider[provider] ?? 0) + 1;
    if (provider !== 'CPUExecutionProvider') continue;
    const op = e.args?.op_name ?? '?';
    const reason = isShapeArithmetic(e)
      ? 'integer shape arithmetic, kept on the CPU by onnxruntime on purpose'
      : 'the GPU provider has no kernel for it with these types (onnxruntime 1.30)';
    const key = `${op}\u0000${reason}`;
    const g = cpu.get(key) ?? { op, count: 0, reason };
    g.count++;
    cpu.set(key, g);
  }
  return { byProvider, onCpu: [...cpu.values()].sort((a, b) => b.count - a.count) };
}

/** One log line: counts per provider, then what ran on the CPU and why. */
export function describePlacement(what: string, p: Placement): string {
  const counts = Object.entries(p.byProvider).map(([k, n]) => `${n} on ${k.replace('ExecutionProvider', '')}`).join(', ');
  if (!p.onCpu.length) return `${what}: every node on the GPU provider (${counts || 'no node events in the profile'})`;
  const cpu = p.onCpu.map((g) => `${g.op} x${g.count} (${g.reason})`).join('; ');
  return `${what}: ${counts}; on the CPU: ${cpu}`;
}

/** A fresh profile file prefix in the temp folder (removed by reportPlacement). */
export function placementProfilePrefix(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-placement-')), name);
}

/**
 * After the session's first run: stop profiling, log where its nodes ran, delete the profile.
 * Wraps `session.run` once; later runs go straight to onnxruntime with profiling off.
 */
export function reportPlacementAfterFirstRun(session: ort.InferenceSession, prefix: string, what: string, log: (m: string) => void): void {
  const run = session.run.bind(session) as typeof session.run;
  const first = async (...args: Parameters<typeof session.run>) => {
    session.run = run;
    const out = await run(...args);
    const dir = path.dirname(prefix);
    try {
      session.endProfiling();
      const base = path.basename(prefix);
      const files = fs.readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith('.json'));
      const events = files.flatMap((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ProfileEvent[]);
      log(describePlacement(what, summarizePlacement(events)));
    } catch (e) {
      log(`${what}: node placement unknown (${(e as Error).message.split('\n')[0]})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return out;
  };
  session.run = first as typeof session.run;
}
