/**
 * Structured logs (pino): readable lines on a terminal, JSON lines otherwise, one line
 * per notable event. Never pass a password or a token to a logger.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export function createLogger(name: string, options: { pretty?: boolean; level?: string } = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const human = options.pretty ?? process.stdout.isTTY === true;
  if (human) {
    return pino({ name, level }, pretty({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
  }
  return pino({ name, level, base: { name } }, pino.destination({ fd: 1, sync: true }));
}
