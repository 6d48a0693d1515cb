"""Which model a configuration names: ``model.name`` → its config class, its model class and
the class of its training options."""

from __future__ import annotations

from torch import nn

from rnnrec.data.item_features import ItemFeatures
from rnnrec.errors import ConfigError
from rnnrec.models.cold_start_gru import ColdStartGRU, ColdStartGRUConfig
from rnnrec.models.feature_fusion_gru import FeatureFusionGRU, FeatureFusionGRUConfig
from rnnrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from rnnrec.models.parallel_gru import ParallelGRU, ParallelGRUConfig
from rnnrec.models.session_recipe_gru import SessionRecipeConfig, SessionRecipeGRU
from rnnrec.models.time_decay_gru import TimeDecayGRU, TimeDecayGRUConfig
from rnnrec.models.time_gated_gru import TimeGatedGRU, TimeGatedGRUConfig
from rnnrec.models.time_interval_gru import TimeIntervalGRU, TimeIntervalGRUConfig
from rnnrec.session_trainer import SessionRecipeTrainConfig
from rnnrec.trainer import TrainConfig

DEFAULT_MODEL = "session_gru"
MODELS: dict[str, tuple[type, type[nn.Module]]] = {
    "gru4rec": (GRU4RecConfig, GRU4Rec),
    "time_interval": (TimeIntervalGRUConfig, TimeIntervalGRU),
    "time_gated": (TimeGatedGRUConfig, TimeGatedGRU),
    "time_decay": (TimeDecayGRUConfig, TimeDecayGRU),
    "feature_fusion": (FeatureFusionGRUConfig, FeatureFusionGRU),
    "parallel_rnn": (ParallelGRUConfig, ParallelGRU),
    "cold_start": (ColdStartGRUConfig, ColdStartGRU),
    "session_gru": (SessionRecipeConfig, SessionRecipeGRU),  # GRU4Rec's own model and training recipe
}


def model_config_class(name: str) -> type:
    if name not in MODELS:
        raise ConfigError(f"model.name must be one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name][0]


def model_train_config_class(name: str) -> type:
    """``[train]`` options: the session trainer's for ``session_gru``, the window trainer's otherwise."""
    return SessionRecipeTrainConfig if name == "session_gru" else TrainConfig


def is_session_recipe(model: nn.Module) -> bool:
    """Whether ``model`` trains by GRU4Rec's session recipe rather than on windows."""
    return isinstance(model, SessionRecipeGRU)


def build_model(n_items: int, config, item_features: ItemFeatures | None = None) -> nn.Module:
    """The model ``config.name`` picks; multimodal ones read ``item_features`` (aligned to the items)."""
    model_cls = MODELS[config.name][1]
    if uses_features(model_cls):
        if item_features is None:
            raise ConfigError(f"model.name = {config.name!r} reads item features: pass item features "
                              "(--item-features / --vectors on the command line)")
        return model_cls(n_items, config, item_features)  # type: ignore[call-arg]
    return model_cls(n_items, config)


def uses_features(model: nn.Module | type) -> bool:
    return bool(getattr(model, "uses_features", False))


def model_name_of_class(class_name: str) -> str | None:
    """The ``model.name`` of a saved model's class name (None if this version does not know it)."""
    for name, (_, model_cls) in MODELS.items():
        if model_cls.__name__ == class_name:
            return name
    return None


def is_time_aware(model: nn.Module) -> bool:
    return bool(getattr(model, "uses_time", False))
