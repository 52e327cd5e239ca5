/** D1: the database ledger's skip path (issue 12). */
import type { LedgerBenchContext, LedgerPair, alternate } from './ledger.js';

export interface PairHelpers {
  alternate: typeof alternate;
  log: (text: string) => void;
  /** The folder of the JSON-ledger configuration (organization 1 backed up today). */
  jsonApp: string;
}

export async function databaseLedgerPairs(_ctx: LedgerBenchContext, helpers: PairHelpers): Promise<LedgerPair[]> {
  helpers.log('D1: the database ledger is not built yet');
  return [];
}
