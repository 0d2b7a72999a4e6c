/** Sends one progress notification for the current tool call (a no-op when the client asked for none). */
export type Progress = (message: string) => void;

export interface Waiting {
  /** True between `hold` and `release`. */
  readonly held: boolean;
  /** The call now waits for someone else (a reviewer): say so now and then every heartbeat. */
  hold(message: string): void;
  release(message: string): void;
  stop(): void;
}

/** Progress while a call waits, repeated so a client that resets its timeout on progress keeps waiting. */
export function startProgress(progress: Progress, heartbeatMs: number): Waiting {
  let timer: NodeJS.Timeout | undefined;
  let since = 0;
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  return {
    get held() {
      return timer !== undefined;
    },
    hold(message) {
      stop();
      since = Date.now();
      progress(message);
      timer = setInterval(() => {
        progress(`${message} (still waiting after ${Math.round((Date.now() - since) / 1000)}s)`);
      }, heartbeatMs);
      timer.unref();
    },
    release(message) {
      stop();
      progress(message);
    },
    stop,
  };
}
