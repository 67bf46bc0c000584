"""Running commands: on the host, or inside a lab node's network namespace;
the lab's own long-running processes (nexusd, etcd): running, stopped."""
import json
import os
import signal
import subprocess
import time

from . import LabError


class Out:
    """What a command did: exit status, standard output and error, parsed JSON."""

    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def ok(self):
        return self.rc == 0

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError:
            raise LabError(f"{self.argv[0]}: not JSON: {self.out[:200]!r} {self.err[:200]!r}") from None

    def text(self):
        return (self.err.strip() or self.out.strip())[:400]


def run(argv, timeout=60, check=False, input=None, env=None):
    """Runs argv; a timeout or a missing program is an Out with rc 124/127."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, input=input, env=env)
        o = Out(argv, p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as e:
        o = Out(argv, 124, (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes)
                else (e.stdout or ""), f"no answer within {timeout}s")
    except OSError as e:
        o = Out(argv, 127, "", f"cannot run {argv[0]}: {e.strerror}")
    if check and not o.ok:
        raise LabError(f"{' '.join(argv[:6])}{' ...' if len(argv) > 6 else ''}: {o.text()}")
    return o


def in_netns(netns, argv):
    """argv run in the network namespace `netns` (mounts stay the host's)."""
    return ["nsenter", f"--net=/run/netns/{netns}", "--"] + list(argv)


def running(pid, marker):
    """Whether process `pid` runs (not a zombie) with `marker` (bytes) in its
    command line: the lab's own process, not a later one with its pid."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except OSError:
        return False
    return marker in cmd


def stop(pid, marker, sig=signal.SIGTERM, wait=30):
    """Stops our process `pid` (see running) with `sig`, SIGKILL after `wait`
    seconds. A paused one is resumed so that it handles the signal."""
    if not running(pid, marker):
        return
    for s in (sig, signal.SIGCONT):
        try:
            os.kill(pid, s)
        except ProcessLookupError:
            break
    deadline = time.monotonic() + wait
    while running(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(pid, marker):
        os.kill(pid, signal.SIGKILL)
        while running(pid, marker):
            time.sleep(0.05)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
