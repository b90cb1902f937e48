"""The docs say what the code does: every study-file example parses, quoted files match the real ones,
the default tables match the defaults, the error examples are the real messages, and README's Python runs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dynsearch.config import ConfigError, load_study_file, parse_study

ROOT = Path(__file__).resolve().parents[1]
STUDY_DOC = ROOT / "docs" / "study-file.md"


def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(), flags=re.S | re.M)


TOML_BLOCKS = _blocks(STUDY_DOC, "toml")


def test_the_study_file_page_has_examples() -> None:
    assert len(TOML_BLOCKS) >= 8


@pytest.mark.parametrize("snippet", TOML_BLOCKS, ids=[f"toml-{i}" for i in range(len(TOML_BLOCKS))])
def test_every_toml_example_is_a_valid_study_file(snippet: str, tmp_path: Path) -> None:
    data = tomllib.loads(snippet)
    if "datasets" not in data:  # a section on its own: add the one required key
        data = tomllib.loads('datasets = ["iris"]\n' + snippet)
    # Globs in the examples need files to match: one small table of each kind beside the example.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x1,x2,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)))
    (tmp_path / "tables" / "one").mkdir(parents=True)
    pandas = pytest.importorskip("pandas")
    pandas.DataFrame({"x": range(30), "y": [i % 2 for i in range(30)]}).to_parquet(tmp_path / "tables" / "one" / "t.parquet")
    spec = parse_study(data, str(tmp_path / "example.toml"))
    # Every key the example sets is what the study gets (no key silently ignored).
    stored = spec.to_dict()
    for section, values in data.items():
        # [search] keys are spread over the strategies' own tables (scopes -> each strategy's scope), so
        # only the other sections are compared key by key; the parser rejects unknown [search] keys.
        if isinstance(values, dict) and section in stored and section != "search":
            for key in values:
                assert key in stored[section], f"[{section}] {key}"


def test_a_quoted_study_file_is_the_real_one() -> None:
    quoted = [b for b in TOML_BLOCKS if re.match(r"# (studies/\S+\.toml)\n", b)]
    assert quoted, "the page quotes no file of studies/"
    for block in quoted:
        name = re.match(r"# (studies/\S+\.toml)\n", block).group(1)
        assert tomllib.loads(block) == tomllib.loads((ROOT / name).read_text()), f"{name} differs from the docs"


def _default_rows(section: str) -> dict[str, str]:
    text = STUDY_DOC.read_text()
    heading = "## Top-level keys" if section == "" else f"## [{section}]"
    blocks = text.split(heading, 1)[1].split("\n## ", 1)[0].split("\n\n")
    table = next(b for b in blocks if b.startswith("|"))
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[2]
    return rows


@pytest.mark.parametrize("section", ["", "model", "training", "search", "sampler", "pruner"])
def test_the_default_tables_are_the_defaults(section: str) -> None:
    defaults = parse_study({"datasets": ["iris"]}, "x.toml").to_dict()
    stored = defaults if section == "" else defaults[section]
    for key, cell in _default_rows(section).items():
        if key in ("name", "datasets", "seed" if section == "sampler" else ""):
            continue  # from the file name / required / "none" spelled as a string
        if section == "search" and key not in stored:
            continue  # a shared key (bases, scopes, …): stored per strategy, checked against the declarations below
        if cell.startswith("none"):
            assert stored[key] is None, (section, key, stored[key])
            continue
        literal = re.match(r"`([^`]+)`", cell)
        assert literal, f"{section}.{key}: no default in {cell!r}"
        documented = tomllib.loads(f"v = {literal.group(1)}")["v"]
        value = stored[key]
        assert documented == (list(value) if isinstance(value, tuple) else value), (section, key)


ERROR_EXAMPLES = {
    "search.lambda": ('datasets = ["iris"]\n[search]\nlambda = [1.0, -1.0]\n'),
    "training.epoch": ('datasets = ["iris"]\n[training]\nepoch = 3\n'),
    "datasets[1]": ('datasets = ["iris", "irs"]\n'),
    "plugins[0]": ('plugins = ["my_package.my_strategies"]\ndatasets = ["iris"]\n'),
}


def test_the_shared_search_keys_default_to_the_declarations() -> None:
    from dynsearch.strategies import COMMON_PARAMS

    rows = _default_rows("search")
    declared = {p.name: p for p in COMMON_PARAMS}
    for key, name in (("bases", "base"), ("scopes", "scope"), ("signals", "signal"), ("every", "every"), ("warmup", "warmup")):
        documented = tomllib.loads(f"v = {re.match(r'`([^`]+)`', rows[key]).group(1)}")["v"]
        param = declared[name]
        default = param.default if param.default is not None else getattr(param, "choices", None)
        assert documented == list(default), (key, default)


def test_the_error_examples_are_the_real_messages(tmp_path: Path) -> None:
    text = STUDY_DOC.read_text()
    examples = re.findall(r"^studies/x\.toml: .*$", text, flags=re.M)
    assert len(examples) == len(ERROR_EXAMPLES)
    (tmp_path / "studies").mkdir()
    for line in examples:
        key = line.split(": ")[1]
        path = tmp_path / "studies" / "x.toml"
        path.write_text(ERROR_EXAMPLES[key])
        with pytest.raises(ConfigError) as info:
            load_study_file(path)
        message = str(info.value).replace(str(path), "studies/x.toml")
        documented = line.removesuffix("...").rstrip()
        assert message.startswith(documented), (message, line)


def test_readme_strategy_example_runs() -> None:
    """The 'Your own strategy' example, in a fresh process (it registers a strategy)."""
    (example,) = [b for b in _blocks(ROOT / "README.md", "python") if "register_strategy" in b]
    proc = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_readme_names_real_study_files_and_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in set(re.findall(r"studies/([\w-]+)\.toml", readme)) - {"x"}:  # x: a placeholder name
        assert (ROOT / "studies" / f"{name}.toml").is_file(), name
        load_study_file(ROOT / "studies" / f"{name}.toml")
