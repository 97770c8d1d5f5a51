"""hparams_search=optuna: a Hydra sweeper on the current Optuna's ask-and-tell API, scatnet's own.

Why not hydra-optuna-sweeper: its newest release (1.3.0) requires optuna < 3 (and so SQLAlchemy < 2), so
installing it downgrades a user's Optuna. This is its core, the same keys and the same command: the search
space in ``hydra.sweeper.params`` in Hydra's override syntax (``interval(a, b)``, ``tag(log, interval(a, b))`` (floats),
``choice(...)``, ``range(...)`` (integers), or a fixed value), ``n_trials`` trials asked ``n_jobs`` at a time, each a
launch of one job, its return value (``optimized_metric``) told back; a failed run is a failed trial. The
study lives in ``storage`` (SQLite beside the runs): a relaunch loads it and adds ``n_trials`` more.

Hydra instantiates sweepers from its ``hydra_plugins`` package only: ``hydra_plugins/scatnet_optuna`` names
this class.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("scatnet")


def distribution(override: Override):
    """An override's sweep as the Optuna distribution it asks from."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution([v for v in override.sweep_iterator(transformer=lambda x: x)])
    if isinstance(value, RangeSweep):
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(int(value.start), int(value.stop) - 1, step=int(value.step))
        return CategoricalDistribution(list(override.sweep_iterator(transformer=lambda x: x)))
    if isinstance(value, IntervalSweep):  # Hydra's intervals are of floats; integers are a range(...)
        return FloatDistribution(float(value.start), float(value.end), log="log" in value.tags)
    raise ValueError(f"{override.input_line} is no search space Optuna takes")


def search_space(lines: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """({key: distribution}, {key: fixed value}) of ``key=value`` override lines."""
    space, fixed = {}, {}
    for override in OverridesParser.create().parse_overrides(lines):
        key = override.get_key_element()
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    return space, fixed


def trial_value(job_return) -> float | None:
    """The number a finished job returned, or None for a failed run (an exception, nan, no number)."""
    try:
        value = float(job_return.return_value)
    except Exception:  # noqa: BLE001 - the job's own exception is re-raised by return_value
        return None
    return value if math.isfinite(value) else None


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: Any,
        direction: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        params: DictConfig | None = None,
    ):
        self.sampler, self.direction, self.storage, self.study_name = sampler, direction, storage, study_name
        self.n_trials, self.n_jobs = int(n_trials), int(n_jobs)
        self.params = (
            OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) else dict(params or {})
        )
        self.job_idx = 0

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _sampler(self):
        """The sampler: Hydra instantiated it already with the sweeper, or its config (``_target_``) is here."""
        if isinstance(self.sampler, (dict, DictConfig)):
            return instantiate(self.sampler)
        return self.sampler

    def sweep(self, arguments: list[str]) -> None:
        import optuna

        space, fixed = search_space([*(f"{k}={v}" for k, v in self.params.items()), *arguments])
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            load_if_exists=True,
            sampler=self._sampler(),
            direction=str(self.direction),
        )
        left = self.n_trials
        while left > 0:
            trials = [study.ask(space) for _ in range(min(left, self.n_jobs))]
            batch = [
                tuple([*(f"{k}={v}" for k, v in t.params.items()), *(f"{k}={v}" for k, v in fixed.items())])
                for t in trials
            ]
            self.validate_batch_is_legal(batch)
            returns = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            for trial, job_return in zip(trials, returns):
                value = trial_value(job_return)
                if value is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, value)
            left -= len(trials)
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if completed:
            best = study.best_trial
            log.info("Best parameters: %s", best.params)
            log.info("Best value: %s", best.value)
            out = Path(self.config.hydra.sweep.dir) / "optimization_results.yaml"
            out.parent.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(
                OmegaConf.create({"name": "optuna", "best_params": best.params, "best_value": best.value}), out
            )
