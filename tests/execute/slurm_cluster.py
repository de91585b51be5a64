"""A real one-machine Slurm cluster for tests: munged, slurmctld and slurmd on loopback.

Everything lives in one temporary folder (config, state, spool, logs, munge key and socket); the
daemons run in the foreground as children of the test and are stopped by their pids. Without
accounting, submitit's `sacct` calls are answered by a stand-in that reads `squeue`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
PACKAGES = ("slurm-wlm", "munge")


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.is_file()), None)


def ensure_installed(timeout: float = 600) -> str | None:
    """Install slurm-wlm and munge with apt when missing. Returns None, or why Slurm is absent."""
    if all(_which(d) for d in DAEMONS) and shutil.which("sbatch"):
        return None
    if os.geteuid() != 0:
        return "slurm-wlm and munge are not installed, and installing them needs root"
    if not shutil.which("apt-get"):
        return "slurm-wlm and munge are not installed, and there is no apt-get to install them"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(["apt-get", "install", "-y", "-q", *PACKAGES], env=env,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                           timeout=timeout)
            done = subprocess.run(["apt-get", "install", "-y", "-q", *PACKAGES], env=env,
                                  capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"apt-get install {' '.join(PACKAGES)} took over {timeout:.0f} s"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return f"apt-get install {' '.join(PACKAGES)} failed: {tail[0]}"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SACCT_STAND_IN = """#!/usr/bin/env python3
# sacct stand-in for a cluster without accounting: answers submitit's query from squeue.
import subprocess, sys
args = sys.argv[1:]
jobs = args[args.index("-j") + 1].split(",") if "-j" in args else []
out = subprocess.run(["squeue", "-h", "-t", "all", "--array", "-o", "%i|%T|%R"] +
                     (["-j", ",".join(jobs)] if jobs else []), capture_output=True, text=True)
print("JobID|State|NodeList")
for line in out.stdout.splitlines():
    if line.strip():
        print(line.strip())
"""


class LocalSlurmCluster:
    """Start with `start()`, stop with `stop()`; `env` has SLURM_CONF and the sacct stand-in."""

    def __init__(self, folder: Path, cpus: int | None = None, gpus: int = 2):
        self.folder = Path(folder)
        self.cpus = cpus or os.cpu_count() or 1
        self.gpus = gpus
        self.node = socket.gethostname().split(".")[0]
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ)

    def _write_config(self) -> None:
        f = self.folder
        for sub in ("state", "spool", "bin", "munge"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(f / "munge", 0o700)
        key = f / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        for index in range(self.gpus):
            device = f / f"gpu{index}"
            if not device.exists():
                os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        gres = f"Gres=gpu:{self.gpus}" if self.gpus else ""
        memory = max(1024, (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2**20
                     - 2048)
        (f / "slurm.conf").write_text(f"""\
ClusterName=radbenchtest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={f / 'munge' / 'munge.socket'}
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation={f / 'state'}
SlurmdSpoolDir={f / 'spool'}
SlurmctldPidFile={f / 'slurmctld.pid'}
SlurmdPidFile={f / 'slurmd.pid'}
SlurmctldLogFile={f / 'slurmctld.log'}
SlurmdLogFile={f / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
KillWait=5
MinJobAge=600
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={memory} {gres} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        lines = ["AutoDetect=off"] + [f"NodeName={self.node} Name=gpu File={f / f'gpu{i}'}"
                                      for i in range(self.gpus)]
        (f / "gres.conf").write_text("\n".join(lines) + "\n")
        sacct = f / "bin" / "sacct"
        sacct.write_text(SACCT_STAND_IN)
        sacct.chmod(0o755)
        self.env["SLURM_CONF"] = str(f / "slurm.conf")
        self.env["PATH"] = f"{f / 'bin'}:{self.env.get('PATH', '')}"

    def _start(self, name: str, command: list[str]) -> None:
        log = (self.folder / f"{name}.out").open("w")
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                env=self.env, stdin=subprocess.DEVNULL)

    def start(self, timeout: float = 60) -> None:
        """Write the configuration, start the three daemons, wait until the node is idle."""
        self._write_config()
        m = self.folder / "munge"
        self._start("munged", [_which("munged"), "-F", "--force", "--key-file",
                               str(m / "munge.key"), "--socket", str(m / "munge.socket"),
                               "--pid-file", str(m / "munged.pid"), "--log-file",
                               str(m / "munged.log"), "--seed-file", str(m / "munge.seed")])
        self._wait(lambda: (m / "munge.socket").exists(), timeout, "munged")
        self._start("slurmctld", [_which("slurmctld"), "-D", "-i"])
        self._wait(lambda: self._ok(["scontrol", "ping"], "UP"), timeout, "slurmctld")
        self._start("slurmd", [_which("slurmd"), "-D", "-N", self.node])
        self._wait(lambda: self._ok(["sinfo", "-h", "-o", "%T"], "idle"), timeout, "slurmd")

    def _ok(self, command: list[str], expected: str) -> bool:
        done = subprocess.run(command, env=self.env, capture_output=True, text=True)
        return done.returncode == 0 and expected in done.stdout

    def _wait(self, ready, timeout: float, name: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: "
                                   f"{self.log_tail(name)}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout:.0f} s: {self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 5) -> str:
        texts = []
        for path in (self.folder / f"{name}.out", self.folder / f"{name}.log",
                     self.folder / "munge" / f"{name}.log"):
            if path.is_file():
                texts += path.read_text(errors="replace").splitlines()[-lines:]
        return " | ".join(texts)

    def stop(self) -> None:
        """Stop every daemon by its pid (slurmd first), then wait for them."""
        for name in reversed(DAEMONS):
            process = self.processes.get(name)
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
