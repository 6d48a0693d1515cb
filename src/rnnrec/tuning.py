"""Hyper-parameter search with Optuna over any config that has ``with_overrides`` and ``to_toml``.

Model quality of session/sequential RNN recommenders depends heavily on learning rate, sizes and
loss; a search needs to be resumable (trainings are long), to survive invalid combinations, and
to read the parameter-space files GRU4Rec users already have. The space is a list of override
keys with ranges, so the search works for every config section without per-option code.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TypeVar

from rnnrec.errors import ConfigError, RnnrecError

log = logging.getLogger("rnnrec")

DTYPES = ("int", "float", "categorical")
_KEYS = {"name", "dtype", "values", "step", "log"}


class TunableConfig(Protocol):
    def with_overrides(self, assignments: list[str]) -> Self: ...

    def to_toml(self) -> str: ...


C = TypeVar("C", bound=TunableConfig)


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter. ``values`` is ``(low, high)`` for int/float, the choices otherwise."""

    name: str
    dtype: str
    values: tuple[Any, ...]
    step: int | float | None = None
    log: bool = False
    where: str = ""  # "file:line", used in error messages


@dataclass
class TuneResult(Generic[C]):
    best_value: float
    best_overrides: list[str]  # the fixed overrides, then the best trial's sampled ones
    best_config: C
    n_trials_completed: int
    study_name: str
    storage: str | None  # Optuna storage URL; None for an in-memory study
    trials: list[dict[str, Any]] = field(default_factory=list)


# ----------------------------------------------------------------------------- parameter space


def load_space(path: str | Path) -> list[ParamSpec]:
    """Read a parameter space: TOML with ``[[param]]`` tables if the suffix is .toml, else JSON lines.

    JSON lines: one object per line, ``{"name": ..., "dtype": "int|float|categorical",
    "values": [...], "step": ..., "log": ...}``; blank lines and lines starting with ``#`` are skipped.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"parameter space file {path} does not exist") from None
    entries = _toml_entries(path, text) if path.suffix == ".toml" else _jsonl_entries(path, text)
    if not entries:
        raise ConfigError(f"{path}: no parameters found")
    specs = [_parse_entry(obj, where) for obj, where in entries]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"{spec.where}: parameter {spec.name!r} already given at {seen[spec.name]}")
        seen[spec.name] = spec.where
    return specs


def _jsonl_entries(path: Path, text: str) -> list[tuple[Any, str]]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            entries.append((json.loads(stripped), where))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc.msg}); expected one JSON object per line") from None
    return entries


def _toml_entries(path: Path, text: str) -> list[tuple[Any, str]]:
    try:
        obj = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(obj) - {"param"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; expected [[param]] tables")
    params = obj.get("param", [])
    if not isinstance(params, list):
        raise ConfigError(f"{path}: 'param' must be an array of tables ([[param]]), got {params!r}")
    # tomllib keeps no positions: the n-th [[param]] header line is where the n-th table starts.
    headers = [n for n, line in enumerate(text.splitlines(), start=1) if line.split("#")[0].strip() == "[[param]]"]
    where = [f"{path}:{headers[i]}" if i < len(headers) else f"{path}: param #{i + 1}" for i in range(len(params))]
    return list(zip(params, where))


def _parse_entry(obj: Any, where: str) -> ParamSpec:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected an object with name, dtype and values, got {obj!r}")
    unknown = set(obj) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; expected some of {sorted(_KEYS)}")
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: missing \"name\" (an option key such as \"train.learning_rate\")")
    dtype = obj.get("dtype")
    if dtype not in DTYPES:
        raise ConfigError(f"{where}: {name}: unknown dtype {dtype!r}; expected one of {list(DTYPES)}")
    values = obj.get("values")
    step, use_log = obj.get("step"), obj.get("log", False)
    if not isinstance(use_log, bool):
        raise ConfigError(f"{where}: {name}: \"log\" must be true or false, got {use_log!r}")

    if dtype == "categorical":
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: {name}: categorical \"values\" must be a non-empty list, got {values!r}")
        bad = [v for v in values if not isinstance(v, (str, int, float, bool))]
        if bad:
            raise ConfigError(f"{where}: {name}: categorical values must be strings, numbers or booleans, got {bad!r}")
        if step is not None or use_log:
            raise ConfigError(f"{where}: {name}: \"step\" and \"log\" apply only to int and float parameters")
        return ParamSpec(name.strip(), dtype, tuple(values), where=where)

    number = int if dtype == "int" else (int, float)
    if (
        not isinstance(values, list)
        or len(values) != 2
        or any(isinstance(v, bool) or not isinstance(v, number) for v in values)
    ):
        kind = "integers" if dtype == "int" else "numbers"
        raise ConfigError(f"{where}: {name}: {dtype} \"values\" must be a range [low, high] of two {kind}, got {values!r}")
    low, high = values
    if dtype == "float":
        low, high = float(low), float(high)
    if low > high:
        raise ConfigError(f"{where}: {name}: low {low!r} > high {high!r} in \"values\"")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, number) or step <= 0:
            raise ConfigError(f"{where}: {name}: \"step\" must be a positive {'integer' if dtype == 'int' else 'number'}, got {step!r}")
        if use_log:
            raise ConfigError(f"{where}: {name}: \"step\" cannot be combined with \"log\": true (Optuna does not support it); drop one")
    if use_log and low <= 0:
        raise ConfigError(f"{where}: {name}: \"log\": true needs low > 0, got {low!r}")
    return ParamSpec(name.strip(), dtype, (low, high), step, use_log, where)


def override(name: str, value: Any) -> str:
    """``name=value`` written for ``with_overrides``: strings quoted, floats to 15 significant digits.

    15 digits drop the float noise of stepped values (0.022000000000000002 -> 0.022).
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, float):
        text = repr(float(f"{value:.15g}"))
    else:
        text = repr(value)
    return f"{name}={text}"


def validate_space(base: TunableConfig, space: Sequence[ParamSpec]) -> None:
    """Apply each parameter's first value to ``base``; an unknown name or bad type names the space line."""
    for spec in space:
        try:
            base.with_overrides([override(spec.name, spec.values[0])])
        except ConfigError as exc:
            raise ConfigError(f"{spec.where}: parameter {spec.name!r} does not fit the config: {exc}") from None


# ----------------------------------------------------------------------------- search


def tune(
    base_config: C,
    space: Sequence[ParamSpec] | str | Path,
    objective: Callable[[C], float],
    n_trials: int,
    storage: str | Path | None = None,
    study_name: str = "rnnrec",
    direction: str = "maximize",
    seed: int = 0,
    fixed: list[str] | None = None,
    progress: bool = True,
) -> TuneResult[C]:
    """Search ``space`` with TPE until the study holds ``n_trials`` completed trials.

    ``objective(config)`` returns the metric (e.g. validation MRR@20). ``fixed`` overrides are
    applied before the sampled ones. With ``storage`` (an Optuna URL or a SQLite file path) an
    existing study of the same name is resumed: only the missing completed trials are run, so
    resume with the same space and ``fixed``. A trial whose objective raises ``RnnrecError`` is
    recorded as pruned (message in the ``error`` user attr) and counts against this call's trials;
    call again to top up. Other exceptions propagate.
    """
    import optuna  # heavy import, only when searching

    specs = load_space(space) if isinstance(space, (str, Path)) else list(space)
    if not specs:
        raise ConfigError("parameter space is empty")
    if n_trials < 1:
        raise ConfigError(f"n_trials must be >= 1, got {n_trials!r}")
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    fixed = list(fixed or [])
    base = base_config.with_overrides(fixed)
    validate_space(base, specs)
    url = storage_url(storage)

    old_verbosity = optuna.logging.get_verbosity()
    if not progress:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            storage=url,
            study_name=study_name,
            direction=direction,
            sampler=optuna.samplers.TPESampler(seed=seed),
            load_if_exists=True,
        )
        if study.direction.name.lower() != direction:
            raise ConfigError(f"study {study_name!r} in {url} was created to {study.direction.name.lower()}, not to {direction}")
        complete = optuna.trial.TrialState.COMPLETE
        done = len(study.get_trials(deepcopy=False, states=(complete,)))
        missing = max(0, n_trials - done)
        if done:
            log.info("study %r: %d completed trial(s) found, running %d more", study_name, done, missing)

        def run_trial(trial: optuna.Trial) -> float:
            overrides = [override(spec.name, _suggest(trial, spec)) for spec in specs]
            try:
                value = float(objective(base.with_overrides(overrides)))
            except RnnrecError as exc:
                message = f"{type(exc).__name__}: {exc}"
                trial.set_user_attr("error", message)
                log.warning("trial %d [%s] failed: %s", trial.number, " ".join(overrides), message)
                raise optuna.TrialPruned(message) from exc
            log.info("trial %d [%s]: value %.6g", trial.number, " ".join(overrides), value)
            return value

        if missing:
            study.optimize(run_trial, n_trials=missing)
    finally:
        optuna.logging.set_verbosity(old_verbosity)

    completed = study.get_trials(deepcopy=False, states=(complete,))
    if not completed:
        raise RnnrecError(f"study {study_name!r}: no trial completed (see the 'error' of each trial)")
    best = study.best_trial
    best_overrides = fixed + [override(k, v) for k, v in best.params.items()]
    return TuneResult(
        best_value=float(best.value),
        best_overrides=best_overrides,
        best_config=base_config.with_overrides(best_overrides),
        n_trials_completed=len(completed),
        study_name=study_name,
        storage=url,
        trials=[
            {
                "number": t.number,
                "params": dict(t.params),
                "value": t.value,
                "state": t.state.name,
                "error": t.user_attrs.get("error"),
            }
            for t in study.get_trials(deepcopy=False)
        ],
    )


def _suggest(trial: Any, spec: ParamSpec) -> Any:
    if spec.dtype == "categorical":
        return trial.suggest_categorical(spec.name, list(spec.values))
    low, high = spec.values
    if spec.dtype == "int":
        return trial.suggest_int(spec.name, low, high, step=spec.step or 1, log=spec.log)
    return trial.suggest_float(spec.name, low, high, step=spec.step, log=spec.log)


def storage_url(storage: str | Path | None) -> str | None:
    """An Optuna storage URL as is; a plain path becomes ``sqlite:///<absolute path>``."""
    if storage is None:
        return None
    if isinstance(storage, str) and "://" in storage:
        return storage
    return f"sqlite:///{Path(storage).expanduser().resolve()}"


def write_best_config(result: TuneResult, path: str | Path) -> Path:
    """Write the best config as TOML with a comment header, atomically (temp file + ``os.replace``)."""
    path = Path(path)
    study = " ".join(str(result.study_name).split())  # a comment must stay on one line
    header = (
        f"# Best config of study {study!r}: value {result.best_value!r} "
        f"after {result.n_trials_completed} completed trial(s).\n"
    )
    if result.storage:
        header += f"# Storage: {' '.join(result.storage.split())}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(header + "\n" + result.best_config.to_toml())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
