/**
 * Error-message redaction (issue 18, points 4 and 6): every part of a URL's authority, every
 * configured secret in every form, linear time, and a cap on what is shown.
 */
import { describe, expect, it } from 'vitest';
import { assertConnectionUsable, connectionSecretValues, holdsLiteralPassword } from '../../src/config/secrets.js';
import { ConfigError, MAX_MESSAGE_CHARS, OperationError, TenantBackupError, asTypedError, redactSecrets, registerSecrets } from '../../src/errors.js';

describe('redactSecrets', () => {
  it('hides the whole user information of a URL, even with unencoded @ / # in the password', () => {
    const text = 'connect to postgres://app:Zq7@evil/Kp9#Wx3@db.internal:5432/app failed; mysql://root@localhost/x too';
    const out = redactSecrets(text);
    expect(out).toBe('connect to postgres://***@db.internal:5432/app failed; mysql://***@localhost/x too');
    for (const piece of ['app:', 'Zq7', 'evil', 'Kp9', 'Wx3', 'root@']) expect(out).not.toContain(piece);
  });

  it('leaves URLs without credentials, and already redacted ones, as they are', () => {
    const text = 'see https://example.com/a?b=c and postgres://***@db/x';
    expect(redactSecrets(text)).toBe(text);
  });

  it('removes every configured secret from every typed error, whoever raised it', () => {
    registerSecrets(connectionSecretValues({ host: 'db', user: 'app', password: 'p@ss/w0rd#Configured', ssl: { key: 'PRIVATE-KEY-MATERIAL' } }));
    const error = new OperationError('server said: password p@ss/w0rd#Configured (encoded p%40ss%2Fw0rd%23Configured) and PRIVATE-KEY-MATERIAL');
    expect(error.message).toBe('server said: password *** (encoded ***) and ***');
    expect(asTypedError(new Error('raw p@ss/w0rd#Configured'), []).message).toBe('Backup failed: raw ***');
  });

  it('registers the password of a URL in every form, and the lenient reading of a malformed one', () => {
    const values = connectionSecretValues('postgres://app:s%40cret%2Fx@h:5432/db?sslpassword=KeyPass');
    expect(values).toEqual(expect.arrayContaining(['s%40cret%2Fx', 's@cret/x', 'KeyPass', 'app:s%40cret%2Fx']));
    const malformed = connectionSecretValues('postgres://app:a@b/c#d@h/db');
    expect(malformed).toEqual(expect.arrayContaining(['a@b/c#d']));
    // A `${VAR}` left unset is a name, not a secret: the error saying so must show it.
    expect(connectionSecretValues({ password: '${DB_PASSWORD}' })).toEqual([]);
    // A user name alone is no secret.
    expect(connectionSecretValues('postgres://u@h/db')).toEqual([]);
  });

  // Linear time with 2 MiB values is tried on the real server in secret-redaction.test.ts, in a
  // child process that can be killed (a quadratic pattern would block this worker for minutes).
  it('caps a long message, keeping its start and end', () => {
    const value = 'x'.repeat(16 * 1024);
    const out = redactSecrets(`invalid input syntax for type numeric: "${value}" [COPY customers, line 1, column credit_limit: "${value}"]`, ['not-there']);
    expect(out.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 100);
    expect(out.startsWith('invalid input syntax for type numeric: "xxx')).toBe(true);
    expect(out).toMatch(/… \[\d\d,\d{3} characters not shown\] …/);
    expect(out.endsWith('xxxx"]')).toBe(true);
    const urlish = `${'a'.repeat(8 * 1024)}://${'b'.repeat(8 * 1024)}`;
    expect(redactSecrets(urlish).length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 100);
    expect(new TenantBackupError('OPERATION_FAILED', value).message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 100);
  });

  it('redacts before it cuts: a secret across the cut is never half shown', () => {
    registerSecrets(['Secret-Across-The-Cut']);
    const head = 'y'.repeat(MAX_MESSAGE_CHARS - 1024 - 5);
    const out = redactSecrets(`${head}Secret-Across-The-Cut${'z'.repeat(5000)}`);
    expect(out).not.toMatch(/Secret|Across|The-Cut/);
  });

  it('maps a full disk to a failed operation (exit 1), not an invalid archive', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const archive = new TenantBackupError('ARCHIVE_INVALID', 'Writing archive /x.tmp failed: ENOSPC: no space left on device, write', { cause: enospc });
    const typed = asTypedError(archive, []);
    expect(typed.code).toBe('OPERATION_FAILED');
    expect(typed.message).toMatch(/no space left on device/);
  });
});

describe('connection settings', () => {
  it.each([
    ['an unencoded @ in a query value of a URL without credentials (a "?" in a password looks the same)', 'postgres://h/db?user=a@b', /%40, also in query values/],
    ['an unencoded / in the password', 'postgres://u:a/b@h/db', /unencoded/],
    ['an unencoded # in the password', 'postgres://u:a#b@h/db', /unencoded/],
    ['an unencoded ? in the password', 'postgres://u:a?b@h/db', /unencoded/],
    ['@ / # together', 'postgres://u:a@b/c#d@h/db', /unencoded/],
    ['a port over 65535', 'postgres://u:p@h:99999/db', /the port is not a number from 1 to 65535/],
    ['a port with letters', 'mysql://u:p@h:33o6/db', /the port is not a number from 1 to 65535/],
    ['port 0', 'mysql://u:p@h:0/db', /the port is not a number from 1 to 65535/],
  ])('refuses a URL with %s, without quoting it', (_what, url, message) => {
    const attempt = () => assertConnectionUsable(url, 'organizations.connection');
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect((error as Error).message).not.toContain(url.slice(11));
    }
  });

  it('accepts usual URLs and objects', () => {
    // Several "@" before the host: URL parsers take the last one, nothing is misread.
    for (const url of [
      'postgres://u:p%40ss%2F%23@h:5432/db',
      'postgres://u:p@ss@h/db',
      'postgres://u:p@h/db?options=a@b',
      'postgres://h/db?user=a%40b',
      'mysql://u@[::1]:3306/db',
      'postgresql://u:p@h/db',
    ]) {
      expect(() => assertConnectionUsable(url, 'x'), url).not.toThrow();
    }
    expect(() => assertConnectionUsable({ host: 'h', port: '5432' }, 'x')).not.toThrow();
    expect(() => assertConnectionUsable({ host: 'h', port: 70000 }, 'x')).toThrow(/x\.port is not a port number/);
    expect(() => assertConnectionUsable({ connectionString: 'postgres://u:a/b@h/db' }, 'x')).toThrow(/x\.connectionString is not a usable/);
  });

  it('tells a password in clear from one taken from the environment', () => {
    expect(holdsLiteralPassword('postgres://u:secret@h/db')).toBe(true);
    expect(holdsLiteralPassword('postgres://u:${PW}@h/db')).toBe(false);
    expect(holdsLiteralPassword('postgres://u@h/db')).toBe(false);
    expect(holdsLiteralPassword({ host: 'h', password: 'secret' })).toBe(true);
    expect(holdsLiteralPassword({ host: 'h', password: '${PW}' })).toBe(false);
    expect(holdsLiteralPassword({ host: 'h', password: 'pre-${PW}' })).toBe(true);
    expect(holdsLiteralPassword({ filename: './app.sqlite' })).toBe(false);
  });
});
