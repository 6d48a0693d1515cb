"""What every benchmark harness here measures about a run and the machine (standard library only).

A model runs as its own subprocess: wall time, its CPU time and peak RSS come from ``os.wait4``,
and /proc/stat tells how much CPU other processes used meanwhile (timings are only clean when
that share is about 0).
"""

from __future__ import annotations

import os
import platform
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import IO


def cpu_busy_seconds() -> float | None:
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measured_call(fn):
    """Run ``fn`` in this process; also report the share of the machine other processes used meanwhile."""
    import resource

    def own_cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    busy0, own0, t0 = cpu_busy_seconds(), own_cpu(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    busy1, own1 = cpu_busy_seconds(), own_cpu()
    other = None
    if busy0 is not None and busy1 is not None:
        other = max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall * (os.cpu_count() or 1))
    return out, {"wall_seconds": wall, "other_cpu_share": other}


def run_measured(
    cmd: list[str],
    stdout: IO[str],
    stderr: IO[str] | int,
    cwd: Path,
    timeout: float | None,
    env: dict | None = None,
) -> dict:
    """Run ``cmd`` (its own process group, killed at ``timeout``) writing to the open files given.

    Returns rc, wall and CPU seconds, peak RSS (MB) of the process waited for, and the share of the
    machine's CPU capacity other processes used during the run.
    """
    busy0 = cpu_busy_seconds()
    t0 = time.perf_counter()
    stdout.write("$ " + shlex.join(cmd) + "\n")
    stdout.flush()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, cwd=cwd, env=env, start_new_session=True)
    timed_out = False
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if timeout is not None and time.perf_counter() - t0 > timeout:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    busy1 = cpu_busy_seconds()
    own_cpu = ru.ru_utime + ru.ru_stime
    other = None
    if busy0 is not None and busy1 is not None and wall > 0:
        other = max(0.0, (busy1 - busy0) - own_cpu) / (wall * len(os.sched_getaffinity(0)))
    return {
        "cmd": shlex.join(cmd),
        "rc": proc.returncode,
        "timed_out": timed_out,
        "wall_seconds": wall,
        "cpu_seconds": own_cpu,
        "peak_rss_mb": ru.ru_maxrss / 1024.0,  # ru_maxrss is in KiB on Linux
        "other_cpu_share": other,  # 0 = quiet machine
        "loadavg_end": os.getloadavg(),
    }


def machine_basics(repo: Path) -> dict:
    """CPU model, cores, memory, platform, Python and the repository's commit."""
    cpu, mem = "unknown", 0.0
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem = next(int(line.split()[1]) / 1024**2 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {"cpu_model": cpu, "cores": os.cpu_count(), "affinity_cores": len(os.sched_getaffinity(0)),
            "mem_gib": mem, "platform": platform.platform(), "hostname": platform.node(),
            "python": platform.python_version(), "repo_commit": commit}
