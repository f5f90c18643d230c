// One training run behind a cancellable progress notification (step, loss, ETA), as the docs
// fine-tuning shows it; before the first step of a run on images, how far reading their text is,
// then how far measuring a fresh vision set's images is.
// Cancel (the notification's button or the caller's token) stops the run; the server keeps the last
// checkpoint and answers with `cancelled: true`.

import * as vscode from 'vscode';
import { randomUUID } from 'crypto';
import { TrainParams, TrainRequest, TrainResult } from '../../server/protocol';
import { imageTextProgressText, preparingText, trainStepText } from '../../server/protocolText';
import type { Backend } from '../backend';

export function trainWithProgress(backend: Backend, params: TrainParams, title: string, token?: vscode.CancellationToken): Thenable<TrainResult> {
  const runId = params.runId ?? randomUUID();
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, cancelToken) => {
    const cancel = new vscode.CancellationTokenSource();
    const subs = [cancelToken.onCancellationRequested(() => cancel.cancel())];
    if (token) subs.push(token.onCancellationRequested(() => cancel.cancel()));
    let lastFraction = 0;
    subs.push(
      backend.onTrainImageText((p) => {
        if (p.runId !== runId) return;
        progress.report({ message: imageTextProgressText(p) });
      }),
      backend.onTrainPreparing((p) => {
        if (p.runId !== runId) return;
        progress.report({ message: preparingText(p) });
      }),
      backend.onTrainProgress((p) => {
        if (p.runId !== runId) return;
        const fraction = p.totalSteps > 0 ? p.step / p.totalSteps : 0;
        progress.report({
          message: trainStepText(p),
          increment: Math.max(0, (fraction - lastFraction) * 100),
        });
        lastFraction = fraction;
      }),
    );
    try {
      return await backend.request(TrainRequest, { ...params, runId }, cancel.token);
    } finally {
      subs.forEach((s) => s.dispose());
      cancel.dispose();
    }
  });
}
