/** Stream helpers shared by the organization engines. */
import type { Readable, Writable } from 'node:stream';

/**
 * Which of a pipeline's streams failed first. A pipeline destroys every stream with the first
 * error, so each stream re-emits it later: only the first emitter is the origin. Used to tell the
 * caller's own stream failing (rethrown unchanged) from the database failing (wrapped).
 */
export function firstFailure(streams: Array<Readable | Writable>): { readonly origin: Readable | Writable | undefined } {
  // The listeners stay: a stream may still report its error after the pipeline settled.
  const state = { origin: undefined as Readable | Writable | undefined };
  for (const stream of streams) {
    stream.on('error', () => {
      state.origin ??= stream;
    });
  }
  return state;
}

/** Resolves at `out`'s next drain; rejects when it fails or closes first. */
export function waitForDrain(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: unknown) => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = () => done();
    const onError = (error: unknown) => done(error ?? new Error('output stream failed'));
    const onClose = () => done(out.errored ?? new Error('output stream closed before the export ended'));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}
