// Preloaded (node --import) into Prisma CLI processes. The Wasm schema engine arms
// 10 s / 60 s timers that are never cleared; unref'ing long timers lets the process
// exit as soon as the command's real work is done. Short timers are left untouched.
import { promisify } from "node:util";

const LONG_TIMER_MS = 5_000;

for (const name of ["setTimeout", "setInterval"]) {
  const original = globalThis[name];
  const wrapped = function (callback, delay, ...args) {
    const timer = original.call(this, callback, delay, ...args);
    if (typeof delay === "number" && delay >= LONG_TIMER_MS) timer?.unref?.();
    return timer;
  };
  if (original[promisify.custom]) wrapped[promisify.custom] = original[promisify.custom];
  globalThis[name] = wrapped;
}
