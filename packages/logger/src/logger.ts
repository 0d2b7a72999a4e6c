import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger } from "pino";

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log object.
 * Credentials must never reach a log line; this list is the last line of defence
 * behind not logging them at all. Tested in logger.test.ts.
 */
export const redactPaths: readonly string[] = [
  "password",
  "*.password",
  "*.*.password",
  "secret",
  "*.secret",
  "token",
  "*.token",
  "*.*.token",
  "apiKey",
  "*.apiKey",
  "grant",
  "*.grant",
  "credential",
  "*.credential",
  "privateKey",
  "*.privateKey",
  "enrollmentToken",
  "*.enrollmentToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers['x-api-key']",
  "res.headers['set-cookie']",
  "masterKey",
  "*.masterKey",
  "config.masterKey",
  "config.agentToken",
  "query",
  "*.query",
  "params",
  "*.params",
];

export interface LoggerOptions {
  name: string;
  level?: string;
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? "info",
      base: { svc: options.name, ...options.base },
      redact: { paths: [...redactPaths], censor: "[redacted]" },
      serializers: { err: pino.stdSerializers.err },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
