/**
 * `email`: a plain-text message over SMTP (nodemailer). `secure: true` speaks TLS from the first
 * byte (port 465); otherwise `starttls` decides: `required` (the default — a password never
 * crosses the network in clear), `if-offered`, or `off` (a local relay). Server certificates are
 * always verified; `caFile` names the authority of a private relay. SMTP 5xx answers and a refused
 * login are permanent; 4xx and connection trouble may be retried.
 */
import { readFile } from 'node:fs/promises';
import { createTransport } from 'nodemailer';
import { channelLabel, smtpPort } from './channels.js';
import { emailMessage } from './events.js';
import { PermanentDeliveryError, type EmailSettings, type Notifier, type NotifierFactory } from './types.js';

export const createEmailNotifier = (async (settings: EmailSettings): Promise<Notifier> => {
  const ca = settings.caFile ? await readFile(settings.caFile, 'utf8') : undefined;
  return {
    kind: 'email',
    label: channelLabel({ kind: 'email', settings }),
    secrets: settings.password ? [settings.password] : [],
    async send(event, signal) {
      const timeout = 60_000; // the attempt's own limit (deliver.ts) ends it sooner
      const transport = createTransport({
        host: settings.host,
        port: smtpPort(settings),
        secure: settings.secure,
        requireTLS: !settings.secure && settings.starttls === 'required',
        ignoreTLS: !settings.secure && settings.starttls === 'off',
        ...(settings.user ? { auth: { user: settings.user, pass: settings.password ?? '' } } : {}),
        tls: { rejectUnauthorized: true, ...(ca ? { ca } : {}) },
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        socketTimeout: timeout,
      });
      const stop = () => transport.close();
      signal.addEventListener('abort', stop, { once: true });
      try {
        const { subject, text } = emailMessage(event);
        await transport.sendMail({ from: settings.from, to: settings.to, subject, text });
      } catch (error) {
        throw classify(error);
      } finally {
        signal.removeEventListener('abort', stop);
        transport.close();
      }
    },
  };
}) satisfies NotifierFactory<EmailSettings>;

/** nodemailer's error as a one-line message; permanent when no retry can change the answer. */
function classify(error: unknown): Error {
  const { code, responseCode, message } = (error ?? {}) as { code?: string; responseCode?: number; message?: string };
  const text = `${code ? `${code}: ` : ''}${message ?? String(error)}`.replace(/\s*\n\s*/g, ' ');
  const permanent = code === 'EAUTH' || code === 'EENVELOPE' || code === 'ETLS' || (typeof responseCode === 'number' && responseCode >= 500);
  return permanent ? new PermanentDeliveryError(text) : new Error(text);
}
