"""dynsearch: search the hyperparameters of dynamic activation functions with Optuna.

Activations adjust while the model trains, from the Pearson correlation between what goes
into them and what comes out. Put a strategy into any model::

    import dynsearch
    model = dynsearch.apply(my_model, dynsearch.ThresholdSwitch(lower=-0.5, upper=0.5))
    # ... at the end of each epoch of your own loop:
    dynsearch.adjust(model, epoch)
"""

from ._version import __version__
from .activations import Family, family_names, get_family
from .adjustment import adjust
from .data import DatasetSplits
from .export import load_config
from .factories import register_model
from .fit import FitContext
from .loaders import LoadedData, register_loader
from .plugins import PluginError, load_plugins
from .signals import (
    PearsonResult,
    PearsonStats,
    Signal,
    SignalMeter,
    SignalRecorder,
    make_signal,
    register_signal,
    signal_names,
)
from .sites import ActivationSite, apply, observe_input, observe_output, parameter_groups, sites
from .strategies import (
    Arm,
    FixedActivation,
    LearnedAlpha,
    LinearUpdate,
    SiteState,
    Strategy,
    ThresholdSwitch,
    make_strategy,
    register_strategy,
    strategy_from_config,
    strategy_names,
)

__all__ = [
    "__version__",
    "Family",
    "family_names",
    "get_family",
    "PearsonStats",
    "PearsonResult",
    "ActivationSite",
    "apply",
    "adjust",
    "sites",
    "observe_output",
    "observe_input",
    "parameter_groups",
    "Strategy",
    "SiteState",
    "FixedActivation",
    "ThresholdSwitch",
    "LinearUpdate",
    "LearnedAlpha",
    "make_strategy",
    "register_strategy",
    "strategy_from_config",
    "strategy_names",
    "load_config",
    "Signal",
    "make_signal",
    "register_signal",
    "signal_names",
    "SignalMeter",
    "SignalRecorder",
    "Arm",
    "load_plugins",
    "PluginError",
    "DatasetSplits",
    "FitContext",
    "LoadedData",
    "register_model",
    "register_loader",
]
