"""Where Hydra looks for sweepers: scatnet's Optuna sweeper (scatnet/training/optuna_sweeper.py). Hydra
registers a plugin under its class's own module, which must lie in hydra_plugins: this subclass is that class."""

from scatnet.training import optuna_sweeper


class OptunaSweeper(optuna_sweeper.OptunaSweeper):
    pass
