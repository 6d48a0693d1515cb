"""One configuration object for a whole run, in sections; round-trips through JSON and TOML.

Unknown keys are an error (a typo must never be silently ignored). ``key=value`` overrides use
``section.key`` or, when the key name is unique across sections, just ``key``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnrec.data.item_features import FeatureConfig
from rnnrec.errors import ConfigError, require_at_least
from rnnrec.models.registry import DEFAULT_MODEL, model_config_class, model_train_config_class
from rnnrec.models.session_recipe_gru import SessionRecipeConfig
from rnnrec.objective import WHOLE_HISTORY, ObjectiveConfig
from rnnrec.session_trainer import SessionRecipeTrainConfig


@dataclass
class DataConfig:
    """Filtering applied before the split. The ``loo`` split itself drops users with < 3 events."""

    k_core: int = 0  # iterative k-core on users and items (0 = off)
    min_length: int = 0  # drop users with fewer events (0 = off)
    drop_repeats: bool = False  # drop an event repeating the user's previous item
    # --protocol session only: how a log becomes sessions and how one file is split by time
    session_gap: float = 0.0  # > 0: cut each user's history where events are this many seconds apart
    test_days: float = 1.0  # sessions ending in the last `test_days` days are the test (and validation) set

    def __post_init__(self) -> None:
        require_at_least("data", self, ("k_core", "min_length"), 0)
        if self.session_gap < 0 or not self.test_days > 0:
            raise ConfigError("data.session_gap must be >= 0 and data.test_days > 0")


class SectionedConfig:
    """Shared behaviour of run configurations: dataclasses whose fields are option sections."""

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, obj: dict[str, Any], source: str = "config"):
        sections = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        unknown = set(obj) - set(sections)
        if unknown:
            raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}; expected {sorted(sections)}")
        for name in sections:
            if not isinstance(obj.get(name, {}), dict):
                raise ConfigError(f"{source}: [{name}] must be a table of options, got {obj[name]!r}")
        classes = cls._section_classes(obj)
        return cls(**{name: _build_section(classes[name], obj.get(name, {}), f"{source}: [{name}]") for name in sections})

    @classmethod
    def _section_classes(cls, obj: dict[str, Any]) -> dict[str, type]:
        """The dataclass of each section for the raw options ``obj`` (a configuration whose
        sections depend on its values overrides this)."""
        return {f.name: f.default_factory for f in dataclasses.fields(cls)}  # type: ignore[arg-type, misc]

    @classmethod
    def from_toml(cls, path: str | Path):
        path = Path(path)
        try:
            obj = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        return cls.from_dict(obj, source=str(path))

    def to_toml(self) -> str:
        lines = []
        for section, values in self.to_dict().items():
            lines.append(f"[{section}]")
            for key, value in values.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)

    def with_overrides(self, assignments: list[str]):
        """Apply ``key=value`` strings (values parsed as TOML: 0.1, true, "lstm" or bare lstm)."""
        obj = self.to_dict()
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            if not sep:
                raise ConfigError(f"--set {assignment!r}: expected key=value")
            section, name = self._resolve_key(key.strip(), obj)
            before = type(self)._section_classes(obj)
            obj[section][name] = _parse_value(raw.strip())
            # A value may change sections' classes (model.name): each changed section keeps what
            # was set away from its old defaults, where the new class has it, and takes the new
            # class's defaults for the rest.
            for key, new_cls in type(self)._section_classes(obj).items():
                if new_cls is before[key]:
                    continue
                old, new = dataclasses.asdict(before[key]()), dataclasses.asdict(new_cls())
                kept = {k: v for k, v in obj[key].items() if k in new and (k not in old or v != old[k])}
                obj[key] = {**new, **kept}
        return type(self).from_dict(obj, source="--set")

    @staticmethod
    def _resolve_key(key: str, obj: dict[str, dict]) -> tuple[str, str]:
        if "." in key:
            section, name = key.split(".", 1)
            if section not in obj or name not in obj[section]:
                raise ConfigError(f"--set: unknown option {key!r}; known: {_all_keys(obj)}")
            return section, name
        owners = [s for s, values in obj.items() if key in values]
        if len(owners) != 1:
            what = "unknown option" if not owners else f"ambiguous option (in {owners})"
            raise ConfigError(f"--set: {what} {key!r}; known: {_all_keys(obj)}")
        return owners[0], key


@dataclass
class RecommenderConfig(SectionedConfig):
    """A sequence-aware (``loo`` / ``time``) run. The default model is ``session_gru`` (GRU4Rec's
    own recipe), trained by the session trainer; the window-trained models (``gru4rec`` and its
    time-aware and multimodal variants) take their ``[train]`` options from :class:`~rnnrec.trainer.TrainConfig`
    and their loss from ``[objective]``, which ``session_gru`` does not read."""

    model: Any = field(default_factory=SessionRecipeConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: Any = field(default_factory=SessionRecipeTrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)  # item features (multimodal models)

    @classmethod
    def _section_classes(cls, obj: dict[str, Any]) -> dict[str, type]:
        """``[model]`` takes the config class of the model its ``name`` picks (default
        session_gru), and ``[train]`` that model's training options."""
        classes = super()._section_classes(obj)
        name = obj.get("model", {}).get("name", DEFAULT_MODEL)
        classes["model"] = model_config_class(name)
        classes["train"] = model_train_config_class(name)
        return classes

    def __post_init__(self) -> None:
        if isinstance(self.model, SessionRecipeConfig) and self.objective != ObjectiveConfig():
            changed = [f"objective.{k}" for k, v in dataclasses.asdict(self.objective).items()
                       if v != getattr(ObjectiveConfig(), k)]
            raise ConfigError(f"{', '.join(changed)}: [objective] is for the window-trained models; "
                              f"model.name = {self.model.name!r} reads its loss from [model] and its sampling from [train]")

    @property
    def history_len(self) -> int:
        """How many of a history's last events the model reads to predict: ``session_gru`` as many
        as it was trained on at once (``train.max_session_len``), the others as their objective says."""
        if isinstance(self.model, SessionRecipeConfig):
            return self.train.max_session_len or WHOLE_HISTORY
        return self.objective.history_len


def _all_keys(obj: dict[str, dict]) -> str:
    return ", ".join(f"{s}.{k}" for s, values in obj.items() for k in values)


def _build_section(section_cls: type, values: dict[str, Any], where: str):
    fields = {f.name: f for f in dataclasses.fields(section_cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {sorted(unknown)}; expected some of {sorted(fields)}")
    defaults = section_cls()
    coerced = {}
    for name, value in values.items():
        default = getattr(defaults, name)
        coerced[name] = _coerce(value, type(default), f"{where} {name}")
    return section_cls(**coerced)


def _coerce(value: Any, kind: type, where: str) -> Any:
    """Accept ints for floats; refuse anything else that does not match the default's type."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _parse_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare word such as lstm


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
