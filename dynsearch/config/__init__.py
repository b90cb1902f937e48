"""Study files: the TOML schema, its validation and the JSON export form.

A study file names the datasets, the model and training settings, the search space and the
Optuna sampler/pruner (see ``docs/study-file.md``). ``load_study_file`` returns a frozen
``StudySpec``; every problem is a one-line ``ConfigError`` naming the file and the key path.

Example:
    >>> from dynsearch.config import parse_study
    >>> spec = parse_study({"datasets": ["iris"]}, "studies/demo.toml")
    >>> spec.name, spec.arms[:3]
    ('demo', ['fixed-relu', 'fixed-tanh', 'learned-relu'])
    >>> spec.arm("linear-global").params
    {'scope': 'global', 'signal': 'io'}
"""

from ._errors import ConfigError
from ._inert import INERT_WARN_SHARE, inert_warnings
from ._parse import load_study_file, parse_study
from ._spec import (
    MULTI_OBJECTIVE_SAMPLERS,
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    DatasetSpec,
    PrunerSpec,
    SamplerSpec,
    SearchSpace,
    StrategySpace,
    StudySpec,
)

__all__ = [
    "ConfigError",
    "INERT_WARN_SHARE",
    "inert_warnings",
    "DatasetSpec",
    "SearchSpace",
    "SamplerSpec",
    "PrunerSpec",
    "StudySpec",
    "load_study_file",
    "parse_study",
    "StrategySpace",
    "SAMPLERS",
    "PRUNERS",
    "OBJECTIVES",
    "MULTI_OBJECTIVE_SAMPLERS",
]
