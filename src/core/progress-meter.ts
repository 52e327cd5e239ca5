/** Progress of a byte stream for the spinner: bytes and elapsed time, at most every 250 ms. */
import { Transform, type TransformCallback } from 'node:stream';

/** Pass-through that reports bytes and elapsed seconds, at most every 250 ms. */
export class ProgressMeter extends Transform {
  private bytes = 0;
  private readonly started = Date.now();
  private lastReport = 0;

  constructor(private readonly report: (bytes: number, seconds: number) => void) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const now = Date.now();
    if (now - this.lastReport >= 250) {
      this.lastReport = now;
      this.report(this.bytes, (now - this.started) / 1000);
    }
    callback(null, chunk);
  }
}
