/**
 * The stall guard's error, shared by the network engines: a connection with work in flight that
 * has seen no bytes for the configured time (`organizations.stallTimeoutSeconds`) is closed with it.
 */
import { OperationError } from '../errors.js';

export function stalledError(server: string, timeoutMs: number): OperationError {
  const seconds = Math.round(timeoutMs / 1000);
  return new OperationError(
    `No data from the ${server} server for ${seconds} s while a query was running: the connection looks stalled, so it was closed ` +
      `(organizations.stallTimeoutSeconds = ${seconds}).`,
    { details: { stallTimeoutSeconds: seconds } },
  );
}
