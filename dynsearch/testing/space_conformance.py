"""The search-space contract: every value a study may sample from a strategy's declarations builds it.

``check_search_space`` draws trials from the declarations' default settings, in every arm of the
strategy's layout, through the same define-by-run sampling the search uses, and builds the strategy
from each plan. A declaration wider than ``__init__`` accepts, a rule that narrows a range to
nothing, or an arm value the constructor refuses fails here instead of in a study.
"""

from __future__ import annotations

from ..strategies import Strategy, get_strategy_class, strategy_arms

__all__ = ["check_search_space"]


def check_search_space(cls: type[Strategy] | str, *, trials: int = 30, seed: int = 0) -> None:
    """Sample ``trials`` plans per arm from the default settings and build each one.

    Raises:
        AssertionError: naming the arm, the plan and the constructor's error.
    """
    # optuna and the search space load only for the search-space check, not for a strategy's own checks
    import optuna

    # optuna and the search space load only for the search-space check, not for a strategy's own checks
    from ..search.space import suggest_strategy

    cls = get_strategy_class(cls) if isinstance(cls, str) else cls
    defaults = {p.name: p.default_setting() for p in cls.declared_params()}
    settings = {k: v for k, v in defaults.items() if v is not None}
    for name, setting in settings.items():
        if not setting:
            raise AssertionError(f"{cls.__name__}: the declared default of {name!r} offers no value.")
    arms = strategy_arms(cls.name, settings)
    if not arms:
        raise AssertionError(f"{cls.__name__}: its arm layout {cls.arm_layout()} gives no arm.")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for arm in arms:
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed))
        for _ in range(trials):
            trial = study.ask()
            params = suggest_strategy(trial, arm, settings)
            try:
                built = cls(**params)
            except Exception as exc:  # noqa: BLE001 - any refusal breaks the contract
                raise AssertionError(f"{cls.__name__}: arm {arm.label} sampled {params}, which it refuses: {exc}") from exc
            scope = arm.get("scope")
            if scope is not None and built.effective_scope != scope:
                raise AssertionError(f"{cls.__name__}: arm {arm.label} runs with scope {built.effective_scope!r}")
            study.tell(trial, 0.0)
