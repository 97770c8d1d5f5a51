"""scatnet-study: the whole study in one resumable command.

    scatnet-study                         # study=thesis: Table 1.2, Table 1.3, the Table 1.4 grid on 3 datasets
    scatnet-study study=smoke             # minutes on a CPU: every step, on digits, a few runs
    scatnet-study study=quick runs_per_gpu=4 out=/scratch/study

Relaunch the same command to continue: completed runs are skipped, killed ones resumed, failed ones retried.
While it runs: a live view here, and <out>/status.json and a self-refreshing <out>/status.html. At the end
(and with ``report_only=true`` at any time): <out>/report.html. Exit 0 when every run completed, 1 when some
failed (the others ran), 143 / 130 when stopped by SIGTERM / Ctrl-C.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from scatnet.cli.common import fail, report_error, start_command
from scatnet.config_files import config_dir
from scatnet.errors import ConfigError, ScatnetError
from scatnet.files import check_output_folder


def parse(argv: list[str]) -> tuple[str, list[str], str]:
    """(study name, overrides, action): ``run`` (the default) or ``status`` (look, start nothing)."""
    name, overrides, action = "thesis", [], "run"
    for arg in argv:
        if arg in ("-h", "--help"):
            print(__doc__)
            raise SystemExit(0)
        if arg == "status":
            action = "status"
            continue
        if "=" not in arg:
            fail(f"{arg!r} is not key=value; e.g. scatnet-study study=smoke runs_per_gpu=2 (see --help)")
        key, value = arg.split("=", 1)
        if key == "study":
            name = value
        else:
            overrides.append(arg)
    return name, overrides, action


def composer(runs_root: Path):
    """compose(overrides): scatnet/configs/train.yaml as scatnet-train composes it for one run of the study."""
    from hydra import compose
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    def compose_run(overrides: list[str]):
        """(the run's config, its sweep's grid: hydra.sweeper.params)."""
        cfg = compose(
            "train", overrides=[*overrides, "paths.run_dir=.", f"paths.runs_dir={runs_root}"], return_hydra_config=True
        )
        params = dict(cfg.hydra.sweeper.get("params") or {})
        HydraConfig.instance().set_config(cfg)  # what ${hydra:...} reads (sweep=custom names runs by overrides)
        with open_dict(cfg):
            cfg.run_name = str(cfg.run_name)
            del cfg["hydra"]  # Hydra's own node needs a running Hydra to resolve; the identity leaves it out
        return cfg, params

    return compose_run


class Display:
    """A Rich live view on a terminal; elsewhere (logs, CI) one line whenever the counts change."""

    def __init__(self):
        from rich.console import Console

        self.console = Console()
        self.live = None
        self.last = None

    def __enter__(self):
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(console=self.console, refresh_per_second=2, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def __call__(self, status: dict) -> None:
        from scatnet.study.runner import running_runs
        from scatnet.study.status import headline, running_line

        if self.live is not None:
            from rich.console import Group
            from rich.progress_bar import ProgressBar
            from rich.text import Text

            c = status["counts"]
            lines = [
                Text(headline(status), style="bold"),
                ProgressBar(total=max(c["total"], 1), completed=c["done"] + c["failed"], width=60),
            ]
            lines += [Text("  " + running_line(s)) for s in running_runs(status)]
            self.live.update(Group(*lines))
            return
        key = tuple(status["counts"].values())
        if key != self.last:
            self.last = key
            print(headline(status), flush=True)


def check_bench(study, out: Path) -> None:
    """``study.bench`` checked as scatnet-bench checks its arguments (on a cluster, its device is the job's)."""
    if study.get("bench") is None:
        return
    from scatnet.cli import bench

    args = bench.parse([*(str(a) for a in study.bench), "--out", str(out / "bench")], said_of="study.bench: ")
    if study.launcher != "slurm":
        try:
            bench.check(args)
        except ConfigError as e:
            raise ConfigError(f"study.bench: {e}") from None


def _completed(bench_json: Path) -> bool:
    try:
        return json.loads(bench_json.read_text()).get("status") == "completed"
    except (OSError, ValueError, AttributeError):  # absent or damaged: measured again (it rewrites the file)
        return False


def bench_command(study, out: Path) -> list[str] | None:
    """scatnet-bench as the study runs it for Table 1.2; None without a benchmark or once it completed."""
    args = study.get("bench")
    done = out / "bench" / "bench.json"
    if args is None or _completed(done):
        return None
    exe = Path(sys.executable).parent / "scatnet-bench"
    return [
        str(exe) if exe.exists() else sys.executable,
        *([] if exe.exists() else ["-m", "scatnet.cli.bench"]),
        *[str(a) for a in args],
        "--out",
        str(out / "bench"),
    ]


def run_bench(study, out: Path) -> bool:
    """Table 1.2 on this machine, alone (before any training shares it); skipped once completed."""
    cmd = bench_command(study, out)
    if cmd is None:
        return True
    print(f"scatnet-study: Table 1.2 first, alone on this machine: {' '.join(cmd[1:])}", flush=True)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    with open(out / "logs" / "bench.log", "a") as log:
        return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode == 0


def on_slurm(study, name: str, out: Path, runs, action: str, display) -> tuple[dict, bool, bool]:
    """The study as SLURM jobs (scatnet/study/slurm.py): submit what is missing (not for ``status``), then
    follow unless ``wait=false``. (status, every job ended, the benchmark completed or absent)."""
    from scatnet.study.slurm import SlurmStudy, slurm_settings

    runner = SlurmStudy(name, out, runs, slurm_settings(study), display)
    if action == "status":
        runner.refresh()
    else:
        bench = bench_command(study, out)
        new = [runner.submit_bench(bench)] if bench is not None else []
        new = [j for j in new + runner.submit_missing() if j is not None]
        print(
            f"scatnet-study {name}: {len(new)} job(s) submitted, {len(runner.live_jobs()) - len(new)} already "
            f"queued or running (their ids: {out / 'slurm' / 'jobs.json'})",
            flush=True,
        )
        if study.get("wait", True):
            runner.follow()
            if runner.stopping is not None:
                from scatnet.training.signals import RunInterrupted

                raise RunInterrupted(
                    runner.stopping,
                    f"scatnet-study {name}: detached; {len(runner.live_jobs())} "
                    "job(s) stay queued or running; relaunch the same command (or add status) "
                    "to follow them",
                )
    ended = not runner.live_jobs()
    status = runner.status("finished" if ended else "training")
    return status, ended, bench_command(study, out) is None


def main(argv: list[str] | None = None) -> int:
    start_command()
    name, overrides, action = parse(sys.argv[1:] if argv is None else argv)
    from hydra import initialize_config_dir

    from scatnet.study.plan import load_study, plan
    from scatnet.study.report import write_study_report
    from scatnet.study.runner import StudyRunner, slots_for, visible_gpus
    from scatnet.study.status import FAILED, headline

    try:
        study = load_study(Path(config_dir()), name, overrides)
        name = str(study.name)
        out = Path(str(study.out)).resolve()
        check_output_folder(out, "out")
        check_bench(study, out)
        t0 = time.perf_counter()
        with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
            runs = plan(study, out, composer(out / "runs"))
        out.mkdir(parents=True, exist_ok=True)
        if study.launcher == "slurm":
            from scatnet.study.slurm import slurm_settings

            settings = slurm_settings(study)
            where, gpus, per_gpu = "SLURM", settings.gpus_per_job, settings.runs_per_job
        else:
            gpus, per_gpu = visible_gpus(), int(study.runs_per_gpu)
            slots = slots_for(gpus, per_gpu, int(study.cpu_runs))
            where = f"{gpus} GPU(s) x {per_gpu} runs" if gpus else f"the CPU, {len(slots)} run(s) at a time"
        print(
            f"scatnet-study {name}: {len(runs)} runs in {len(study.parts)} parts, on {where} -> {out} "
            f"(planned in {time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        if study.launcher == "slurm" and not study.get("report_only"):
            with Display() as display:
                status, ended, bench_ok = on_slurm(study, name, out, runs, action, display)
            if not ended:  # detached (wait=false, or status while jobs run): the report comes when all end
                print(
                    f"{headline(status)}; follow: {out / 'status.html'}, or relaunch the same command "
                    "(add status to only look)",
                    flush=True,
                )
                return _exit(0, argv)
        else:
            bench_ok = True if study.get("report_only") or action == "status" else run_bench(study, out)
            runner = StudyRunner(name, out, runs, slots if study.launcher != "slurm" else [], lambda status: None)
            if not study.get("report_only") and action != "status":
                with Display() as display:
                    runner.show = display
                    runner.run()
            status = runner.status("finished")
        report = write_study_report(out, runs, gpus, per_gpu)
    except ScatnetError as e:
        report_error(e)
    failed = [s for s in status["runs"] if s["state"] == FAILED]
    print(headline(status) + f" -> {report}", flush=True)
    for s in failed:
        print(f"  failed: {s['run_dir']}: {s['reason']}", flush=True)
    if not bench_ok:
        print(f"  failed: the benchmark (see {out / 'logs' / 'bench.log'})", flush=True)
    return _exit(1 if failed or not bench_ok else 0, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:  # the console script
        raise SystemExit(code)
    return code


if __name__ == "__main__":
    main()
