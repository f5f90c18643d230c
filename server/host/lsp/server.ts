// The language-server connection over a pair of streams: routes the protocol's requests to the
// model host, streams tokens and progress back, maps errors to JSON-RPC errors.

import * as path from 'path';
import { CancellationToken, createConnection, ProposedFeatures, ResponseError, StreamMessageWriter, WorkDoneProgress, WorkDoneProgressCancelNotification } from 'vscode-languageserver/node';
import type { InitializeParams, ProgressToken, WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from 'vscode-languageserver/node';
import {
  ActivateAdapterSetRequest, ChatRequest, ExplainRequest, LavinInitializationOptions, ListAdapterSetsRequest, ListModelsRequest, LoadModelRequest,
  PreviewTrainingRequest, SetupModelRequest, StatusChangedNotification, StatusRequest, TokenNotification, TrainImageTextNotification, TrainPreparingNotification, TrainProgressNotification, TrainRequest,
  UnloadModelRequest, PreviewVisionDataRequest, ExportAdapterSetRequest, ImportAdapterSetRequest,
} from '../../protocol';
import { imageTextProgressText, preparingText, trainStepText } from '../../protocolText';
import { HostError } from '../errors';
import { GenerateControl, ModelHost } from '../modelHost';
import * as P from '../requestChecks';
import { listModelsParams } from '../models/listModelsParams';
import { exportAdapterSetParams, importAdapterSetParams, previewVisionDataParams } from '../adapterSetParams';
import { TrainingPort } from '../training';
import { Workspace } from '../workspace';
import { TolerantMessageReader } from './reader';

export interface ServerOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Defaults the client's initializationOptions can override. */
  defaults?: LavinInitializationOptions;
  /** Builds the training port once the client's options (adapter-set folder) are known. */
  training?: (adapterSetsDir: string | undefined) => TrainingPort | undefined;
  /** Called when the input closes or `exit` arrives, after the host is disposed. */
  onExit?: (code: number) => void;
}

function toResponseError(err: unknown): ResponseError<unknown> {
  if (err instanceof ResponseError) return err;
  if (err instanceof HostError) return new ResponseError(err.code, err.message, err.data);
  return new ResponseError(-32603, err instanceof Error ? err.message : String(err));
}

function abortOn(token: CancellationToken): AbortController {
  const ac = new AbortController();
  if (token.isCancellationRequested) ac.abort();
  else token.onCancellationRequested(() => ac.abort());
  return ac;
}

function workspaceFrom(params: InitializeParams | undefined): Workspace {
  const folders = params?.workspaceFolders?.map((f) => decodeURIComponent(new URL(f.uri).pathname));
  if (folders && folders.length) return new Workspace(folders);
  if (params?.rootUri) return new Workspace([decodeURIComponent(new URL(params.rootUri).pathname)]);
  if (params?.rootPath) return new Workspace([params.rootPath]);
  return new Workspace(params ? [] : [process.cwd()]);
}

export function startServer(opts: ServerOptions) {
  const writer = new StreamMessageWriter(opts.output);
  const reader = new TolerantMessageReader(opts.input, (bad) => {
    void writer.write({ jsonrpc: '2.0', id: bad.id, error: { code: bad.code, message: bad.message } } as never);
  });
  const connection = createConnection(ProposedFeatures.all, reader, writer);
  let host: ModelHost | null = null;
  let exiting = false;
  /** Training and setup runs the client may cancel through their work-done token. */
  const cancellable = new Map<ProgressToken, AbortController>();

  const makeHost = (init?: InitializeParams): ModelHost => {
    const o: LavinInitializationOptions = { ...opts.defaults, ...(init?.initializationOptions as LavinInitializationOptions | undefined) };
    return new ModelHost({
      modelDir: o.modelDir && path.resolve(o.modelDir),
      clip: o.clip && path.resolve(o.clip),
      device: o.device,
      threads: o.threads,
      packedWeights: o.packedWeights,
      maxImageBytes: o.maxImageBytes,
      whileTraining: o.whileTraining,
      workspace: workspaceFrom(init),
      training: opts.training?.(o.adapterSetsDir && path.resolve(o.adapterSetsDir)),
      log: (m) => connection.console.info(m),
      onStatusChange: (s) => void connection.sendNotification(StatusChangedNotification, s).catch(() => {}),
    });
  };
  // Requests before `initialize` (bare JSON-RPC clients) get a host on the current directory.
  const getHost = (): ModelHost => (host ??= makeHost());

  const exit = async (code: number) => {
    if (exiting) return;
    exiting = true;
    for (const ac of cancellable.values()) ac.abort();
    await host?.dispose().catch(() => {});
    opts.onExit?.(code);
  };

  connection.onInitialize((params) => {
    host ??= makeHost(params);
    return { capabilities: {}, serverInfo: { name: 'lavin-code', version: host.status().version } };
  });
  connection.onInitialized(() => {
    // Registered after initialize so it replaces the library's handler, which only knows server-created tokens.
    connection.onNotification(WorkDoneProgressCancelNotification.type, ({ token }) => cancellable.get(token)?.abort());
  });
  connection.onShutdown(async () => {
    await host?.unloadModel().catch(() => {});
  });
  connection.onExit(() => void exit(0));
  reader.onClose(() => void exit(0));

  const handle = <R>(fn: (params: unknown, token: CancellationToken) => Promise<R> | R) =>
    async (params: unknown, token: CancellationToken): Promise<R> => {
      try {
        return await fn(params, token);
      } catch (err) {
        throw toResponseError(err);
      }
    };

  const streaming = (streamId: string | undefined, token: CancellationToken): GenerateControl => ({
    signal: abortOn(token).signal,
    onToken: streamId === undefined ? undefined : (e) => void connection.sendNotification(TokenNotification, { streamId, text: e.text, index: e.index, id: e.id }),
  });

  const progress = (token: ProgressToken | undefined, title: string) => {
    const send = (value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd) =>
      token !== undefined && void connection.sendProgress(WorkDoneProgress.type, token, value).catch(() => {});
    return {
      begin: () => send({ kind: 'begin', title, cancellable: true, percentage: 0 }),
      report: (message: string, percentage: number) => send({ kind: 'report', message, percentage: Math.max(0, Math.min(100, Math.round(percentage))) }),
      end: (message: string) => send({ kind: 'end', message }),
    };
  };

  connection.onRequest(StatusRequest.method, handle(() => getHost().status()));
  connection.onRequest(LoadModelRequest.method, handle((p) => getHost().loadModel(P.loadModelParams(p))));
  connection.onRequest(UnloadModelRequest.method, handle(() => getHost().unloadModel()));
  connection.onRequest(ChatRequest.method, handle((p, token) => {
    const params = P.chatParams(p);
    return getHost().chat(params, streaming(params.streamId, token));
  }));
  connection.onRequest(ExplainRequest.method, handle((p, token) => {
    const params = P.explainParams(p);
    return getHost().explain(params, streaming(params.streamId, token));
  }));
  connection.onRequest(TrainRequest.method, handle((p, token) => {
    const params = P.trainParams(p);
    return withWorkDone(token, params.workDoneToken, `Training adapter set ${params.name ?? path.basename((params.docs ?? params.data) || 'adapters')}`, (signal, bar) =>
      getHost().train(params, {
        signal,
        onImageText: (p) => {
          void connection.sendNotification(TrainImageTextNotification, p).catch(() => {});
          bar.report(imageTextProgressText(p), 0);
        },
        onPreparing: (p) => {
          void connection.sendNotification(TrainPreparingNotification, p).catch(() => {});
          bar.report(preparingText(p), 0);
        },
        onProgress: (s) => {
          void connection.sendNotification(TrainProgressNotification, s).catch(() => {});
          bar.report(`${trainStepText(s)} · ${Math.round(s.tokensPerSecond)} tokens/s`, (100 * s.step) / s.totalSteps);
        },
      }), (r) => (r.cancelled ? (r.steps === 0 ? 'cancelled before the first step; resume to start it' : `cancelled at step ${r.steps}; resume to continue`) : `saved ${r.adapterSet}`));
  }));
  connection.onRequest(PreviewTrainingRequest.method, handle((p) => getHost().previewTraining(P.previewTrainingParams(p))));
  connection.onRequest(ListAdapterSetsRequest.method, handle(() => getHost().listAdapterSets()));
  connection.onRequest(PreviewVisionDataRequest.method, handle((p) => getHost().previewVisionData(previewVisionDataParams(p))));
  connection.onRequest(ExportAdapterSetRequest.method, handle((p) => getHost().exportAdapterSet(exportAdapterSetParams(p))));
  connection.onRequest(ImportAdapterSetRequest.method, handle((p) => getHost().importAdapterSet(importAdapterSetParams(p))));
  connection.onRequest(ListModelsRequest.method, handle((p) => getHost().listModels(listModelsParams(p))));
  connection.onRequest(ActivateAdapterSetRequest.method, handle((p) => getHost().activateAdapterSet(P.activateParams(p).name)));
  connection.onRequest(SetupModelRequest.method, handle((p, token) => {
    const params = P.setupModelParams(p);
    return withWorkDone(token, params.workDoneToken, `Setting up model ${params.name ?? path.basename(params.out)}`, (signal, bar) =>
      getHost().setupModel(params, { signal, onProgress: (m, pct) => bar.report(m, pct) }), (r) => `model folder ${r.dir} is ready`);
  }));

  /** Long work with LSP work-done progress, cancellable by $/cancelRequest or the progress's own cancel. */
  async function withWorkDone<R>(token: CancellationToken, wd: ProgressToken | undefined, title: string, run: (signal: AbortSignal, bar: ReturnType<typeof progress>) => Promise<R>, done: (r: R) => string): Promise<R> {
    const ac = abortOn(token);
    if (wd !== undefined) cancellable.set(wd, ac);
    const bar = progress(wd, title);
    bar.begin();
    try {
      const result = await run(ac.signal, bar);
      bar.end(done(result));
      return result;
    } catch (err) {
      bar.end(`failed: ${(err as Error).message}`);
      throw err;
    } finally {
      if (wd !== undefined) cancellable.delete(wd);
    }
  }

  connection.listen();
  return { connection, getHost };
}
