import { resolve } from "node:path";

export interface Launch {
  command: string;
  /** Arguments before the CLI's own (`kube credential …`). */
  args: string[];
}

export interface ProcessFacts {
  execPath: string;
  argv: readonly string[];
  execArgv: readonly string[];
  /** A single executable application: the binary is the whole CLI. */
  sea: boolean;
}

/** Node flags that load code the CLI needs to start (tsx's loader when run from source). */
const LOADER_FLAGS = new Set(["--import", "--require", "-r", "--loader", "--experimental-loader"]);

function loaderArgs(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!LOADER_FLAGS.has(flag)) continue;
    if (eq > 0) out.push(arg);
    else if (i + 1 < execArgv.length) out.push(arg, execArgv[++i] as string);
  }
  return out;
}

/**
 * How another program (kubectl) starts this same CLI: the absolute node binary, the loader
 * flags this process was started with (so `tsx src/main.ts` works too), and the absolute
 * path of the script node ran — `bin/sluice.js` through a bin shim, or `dist/main.js`. The
 * script path is not resolved through symlinks, so an upgraded install behind a shim works.
 */
export function selfLaunch(facts: ProcessFacts): Launch {
  const script = facts.argv[1];
  if (facts.sea || !script) return { command: facts.execPath, args: [] };
  return { command: facts.execPath, args: [...loaderArgs(facts.execArgv), resolve(script)] };
}

export async function currentProcess(): Promise<ProcessFacts> {
  let sea = false;
  try {
    const mod = (await import("node:sea")) as { isSea?: () => boolean };
    sea = mod.isSea?.() ?? false;
  } catch {
    sea = false;
  }
  return { execPath: process.execPath, argv: process.argv, execArgv: process.execArgv, sea };
}
