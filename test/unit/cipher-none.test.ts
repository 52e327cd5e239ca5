/** The `none` cipher (archives stored as the zip itself) keeps the cipher contract. */
import { noneCipher } from '../../src/cipher/none.js';
import { describeCipherContract } from '../contract/cipher.contract.js';

describeCipherContract('none', { authenticates: false, create: async () => ({ cipher: noneCipher, keys: undefined }) });
