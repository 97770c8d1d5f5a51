"""A real single-node SLURM for the tests: munged, slurmctld and slurmd from Debian's ``slurm-wlm`` and
``munge``, with a generated ``slurm.conf``, key, sockets, state and logs in one temporary folder, sized from
this machine. Every daemon it starts is stopped by its pid. Clients find it through ``SLURM_CONF``.

    python tests/slurm_cluster.py /tmp/cluster      # by hand: starts it, prints the export line, waits for Ctrl-C
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "srun", "scancel")


def missing() -> str | None:
    """Why a cluster cannot be started here, or None."""
    absent = [p for p in (*DAEMONS, *CLIENTS) if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]
    if absent:
        return f"needs SLURM and MUNGE (Debian: apt-get install slurm-wlm munge); missing: {', '.join(absent)}"
    if os.geteuid() != 0:
        return "needs root to start slurmd (it runs jobs as their users)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exe(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


class Cluster:
    """One node (this machine, as ``hostname -s`` names it), one partition ``debug``, no accounting."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.node = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        self.conf = self.root / "slurm.conf"
        self.pids: dict[str, int] = {}

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        for d in ("state", "spool", "log"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        key = self.root / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        mem = max(_memory_mb() - 1024, 1024)
        r = self.root
        self.conf.write_text(f"""\
ClusterName=scatnet-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r}/munge.sock
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=30
InactiveLimit=0
SlurmdTimeout=60
SlurmctldTimeout=60
SlurmdParameters=config_overrides
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")

    def start(self, timeout: float = 60) -> "Cluster":
        self.write_config()
        r = self.root
        subprocess.run(
            [
                _exe("munged"),
                "--force",
                f"--key-file={r}/munge.key",
                f"--socket={r}/munge.sock",
                f"--log-file={r}/log/munged.log",
                f"--pid-file={r}/munged.pid",
                f"--seed-file={r}/munged.seed",
            ],
            check=True,
            capture_output=True,
        )
        self.pids["munged"] = self._pid("munged.pid", timeout)
        env = {**os.environ, **self.env}
        subprocess.run([_exe("slurmctld"), "-c"], env=env, check=True, capture_output=True)  # -c: no old state
        self.pids["slurmctld"] = self._pid("slurmctld.pid", timeout)
        subprocess.run([_exe("slurmd")], env=env, check=True, capture_output=True)
        self.pids["slurmd"] = self._pid("slurmd.pid", timeout)
        self._wait_idle(timeout)
        return self

    def _pid(self, name: str, timeout: float) -> int:
        path = self.root / name
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not appear in {timeout:.0f} s; see {self.root / 'log'}")

    def _wait_idle(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        state = ""
        while time.monotonic() < end:
            p = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"], env={**os.environ, **self.env}, capture_output=True, text=True
            )
            state = p.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the node is {state or 'unknown'} after {timeout:.0f} s; see {self.root / 'log'}")

    def stop(self) -> None:
        """Every daemon started here, by pid: SIGTERM, then SIGKILL after 10 s."""
        for name in reversed(DAEMONS):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            end = time.monotonic() + 10
            while time.monotonic() < end:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)

    def run(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        env = {**os.environ, **self.env, **kw.pop("env", {})}
        return subprocess.run(list(cmd), env=env, capture_output=True, text=True, **kw)


if __name__ == "__main__":
    import sys

    cluster = Cluster(Path(sys.argv[1])).start()
    print(f"export SLURM_CONF={cluster.conf}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the daemons on SIGTERM too
    try:
        signal.pause()
    finally:
        cluster.stop()
