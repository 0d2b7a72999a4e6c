/**
 * Terminal sessions without native modules: a small python3 program (standard library only)
 * runs the command on a pseudo-terminal, relays bytes on stdin/stdout, and reads window sizes
 * ("cols rows" lines) from fd 3, applying each with TIOCSWINSZ so the program gets SIGWINCH.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = String.raw`
import errno, fcntl, os, pty, select, signal, struct, sys, termios

def set_size(fd, cols, rows):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]

cols, rows, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
pid, master = pty.fork()
if pid == 0:
    # The size must be right before the program starts, or its first screen is drawn wrong.
    set_size(0, cols, rows)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, ("exec %s: %s\r\n" % (argv[0], e.strerror)).encode())
        os._exit(127)

def hang_up(signum, frame):
    os.kill(pid, signal.SIGHUP)
    os._exit(128 + signum)

signal.signal(signal.SIGTERM, hang_up)
signal.signal(signal.SIGHUP, hang_up)
readers, pending = [master, 0, 3], b""
while True:
    ready, _, _ = select.select(readers, [], [])
    if master in ready:
        try:
            data = os.read(master, 65536)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            break
        write_all(1, data)
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            write_all(master, data)
        else:
            readers.remove(0)
    if 3 in ready:
        data = os.read(3, 4096)
        if not data:
            readers.remove(3)
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            parts = line.split()
            if len(parts) == 2:
                set_size(master, int(parts[0]), int(parts[1]))
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
`;

export interface PtyHelper {
  path: string;
  remove(): void;
}

export function writePtyHelper(): PtyHelper {
  const dir = mkdtempSync(join(tmpdir(), "sluice-kube-pty-"));
  const path = join(dir, "pty-helper.py");
  writeFileSync(path, SCRIPT, { mode: 0o600 });
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
