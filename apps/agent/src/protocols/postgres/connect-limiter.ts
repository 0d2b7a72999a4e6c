/**
 * Bounds how many connects to one target run at once. A thousand clients that reconnect
 * together would otherwise start a thousand authentications on the target at the same
 * moment; the target's CPU then finishes none of them within the connect timeout. In turn,
 * each connect gets the target's attention and its own timeout starts when it does.
 */
export class ConnectLimiter {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(private readonly perTarget: number) {}

  async run<T>(target: string, connect: () => Promise<T>): Promise<T> {
    await this.acquire(target);
    try {
      return await connect();
    } finally {
      this.release(target);
    }
  }

  private acquire(target: string): Promise<void> {
    const n = this.running.get(target) ?? 0;
    if (n < this.perTarget) {
      this.running.set(target, n + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(target) ?? [];
      queue.push(resolve);
      this.waiting.set(target, queue);
    });
  }

  private release(target: string): void {
    const next = this.waiting.get(target)?.shift();
    if (next) {
      next(); // the slot passes to the next connect as it is
      return;
    }
    if (this.waiting.get(target)?.length === 0) this.waiting.delete(target);
    const n = (this.running.get(target) ?? 1) - 1;
    if (n === 0) this.running.delete(target);
    else this.running.set(target, n);
  }
}
