"""Packed trials: K training runs of the same model shape trained together.

``train_packed(splits, members, compile="auto")`` trains every member (a strategy with its training settings) and
returns one ``TrainResult`` per member, equal to what ``train()`` gives for that member alone:
packing changes speed, never results. ``pack_key(config, strategy=None)`` tells which runs can
share a pack: the same model (kind, sizes, dropout, activation), batch size, epochs, optimizer kind and
measuring interval, and, given the run's ``strategy``, whether the vectorized engine can run it (a learned
α per channel, ACON-C or a strategy with its own ``setup_site`` packs apart, trained one by one);
``auto_pack_size(splits, config, trials_left=..., memory_budget=...)`` picks how many;
``parse_compile(value)`` validates a ``compile`` setting ("auto", true or false).

Example:
    >>> from dynsearch.data import load_dataset
    >>> from dynsearch.train import TrainConfig
    >>> from dynsearch.packed import PackMember, train_packed
    >>> splits = load_dataset("iris")
    >>> members = [PackMember({"name": "fixed", "params": {}}, TrainConfig(epochs=2, seed=s)) for s in (0, 1)]
    >>> [r.status for r in train_packed(splits, members)]
    ['ok', 'ok']
"""

from ._api import PackMember, pack_key, train_packed, train_sequential
from ._size import MAX_PACK, auto_pack_size, member_footprint
from ._step import compile_available, parse_compile

__all__ = [
    "PackMember",
    "pack_key",
    "train_packed",
    "train_sequential",
    "auto_pack_size",
    "member_footprint",
    "MAX_PACK",
    "parse_compile",
    "compile_available",
]
