/**
 * Real receivers for notification tests, on loopback and free ports: an HTTP server (node:http)
 * that records every request and answers as told, a TCP server that accepts and never answers,
 * and an SMTP server (smtp-server, nodemailer's own) with STARTTLS on a self-signed certificate
 * made by openssl, and AUTH.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { SMTPServer } from 'smtp-server';
import { makeTempDir } from './temp.js';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** What the n-th request (1-based) gets: a status code (with an optional reason phrase). */
export type HttpPlan = (n: number, request: RecordedRequest) => number | { status: number; reason: string };

export interface HttpRecorder {
  /** `http://127.0.0.1:<port><path>` */
  url(pathname: string): string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startHttpRecorder(plan: HttpPlan = () => 200): Promise<HttpRecorder> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      const answer = plan(requests.length, request);
      const { status, reason } = typeof answer === 'number' ? { status: answer, reason: undefined } : answer;
      res.writeHead(status, reason, { 'content-type': 'text/plain' });
      res.end('answer body that is never read into a message\n');
    });
  });
  const port = await listen(server);
  return {
    url: (pathname) => `http://127.0.0.1:${port}${pathname}`,
    requests,
    close: () => closeServer(server),
  };
}

/** Accepts connections and never sends a byte: an HTTP server that hangs, an SMTP server without a greeting. */
export async function startSilentServer(): Promise<{ port: number; url(pathname: string): string; connections(): number; requests(): number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  let requests = 0;
  const server = net.createServer((socket) => {
    count += 1;
    sockets.add(socket);
    // A connection that sent something is a request (HTTP clients also open spare connections).
    socket.once('data', () => (requests += 1));
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  return {
    port,
    url: (pathname) => `http://127.0.0.1:${port}${pathname}`,
    connections: () => count,
    requests: () => requests,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await closeServer(server);
    },
  };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  /** The connection was upgraded with STARTTLS before the message. */
  secure: boolean;
  /** Who logged in (AUTH), if anyone. */
  user: string | null;
}

export interface SmtpOptions {
  user: string;
  password: string;
  /** Offer STARTTLS (default true). Without it, AUTH is refused (never in clear). */
  starttls?: boolean;
  /** The answer to the n-th message (1-based): null accepts; else an SMTP code and text. */
  plan?: (n: number) => null | { code: number; message: string };
}

export interface SmtpReceiver {
  port: number;
  /** The PEM certificate the server presents (its own authority: self-signed). */
  caFile: string;
  messages: ReceivedMail[];
  /** Attempts: messages whose DATA was sent, accepted or not. */
  attempts(): number;
  logins(): number;
  close(): Promise<void>;
}

/** A self-signed certificate for `localhost` and 127.0.0.1, made by openssl for this test run. */
export async function selfSignedCertificate(): Promise<{ key: string; cert: string; certFile: string }> {
  const dir = await makeTempDir('tb-cert-');
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  const { readFile } = await import('node:fs/promises');
  return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8'), certFile };
}

export async function startSmtpServer(options: SmtpOptions): Promise<SmtpReceiver> {
  const { key, cert, certFile } = await selfSignedCertificate();
  const messages: ReceivedMail[] = [];
  let attempts = 0;
  let logins = 0;
  const server = new SMTPServer({
    secure: false,
    ...(options.starttls === false ? { hideSTARTTLS: true, disabledCommands: ['STARTTLS'] } : { key, cert }),
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === options.user && auth.password === options.password) {
        logins += 1;
        return callback(null, { user: auth.username });
      }
      callback(Object.assign(new Error('Authentication failed'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        attempts += 1;
        const answer = options.plan?.(attempts) ?? null;
        if (answer) return callback(Object.assign(new Error(answer.message), { responseCode: answer.code }));
        const { subject, text } = parseMessage(Buffer.concat(chunks).toString('utf8'));
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          subject,
          text,
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : null,
        });
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.server.address() as net.AddressInfo).port)));
  return {
    port,
    caFile: certFile,
    messages,
    attempts: () => attempts,
    logins: () => logins,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Subject and plain-text body of a simple message (headers unfolded, quoted-printable decoded). */
function parseMessage(raw: string): { subject: string; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const body = raw.slice(split + 4);
  const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(headers)?.[1] ?? '';
  const quotedPrintable = /quoted-printable/i.test(header('Content-Transfer-Encoding'));
  const text = quotedPrintable ? decodeQuotedPrintable(body) : body;
  return { subject: header('Subject'), text: text.replace(/\r\n/g, '\n') };
}

function decodeQuotedPrintable(text: string): string {
  const joined = text.replace(/=\r\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i += 1) {
    if (joined[i] === '=' && /^[0-9A-F]{2}$/i.test(joined.slice(i + 1, i + 3))) {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(joined[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
