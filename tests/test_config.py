import pytest

from rnnrec.config import RecommenderConfig
from rnnrec.errors import ConfigError


def test_toml_round_trip(tmp_path):
    c = RecommenderConfig().with_overrides(["model.name=gru4rec", "model.cell=lstm", "seed=7", "learning_rate=0.01",
                                            "tied_embeddings=false"])
    assert (c.model.cell, c.train.seed, c.train.learning_rate, c.model.tied_embeddings) == ("lstm", 7, 0.01, False)
    path = tmp_path / "c.toml"
    path.write_text(c.to_toml())
    assert RecommenderConfig.from_toml(path) == c


def test_unknown_keys_are_errors(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[model]\nhiden = 3\n")
    with pytest.raises(ConfigError, match="hiden"):
        RecommenderConfig.from_toml(path)
    path.write_text("[modle]\n")
    with pytest.raises(ConfigError, match="modle"):
        RecommenderConfig.from_toml(path)
    with pytest.raises(ConfigError, match="unknown option 'foo'"):
        RecommenderConfig().with_overrides(["foo=1"])


def test_wrong_types_and_values_are_errors():
    window = RecommenderConfig().with_overrides(["model.name=gru4rec"])
    with pytest.raises(ConfigError, match="expected an integer"):
        window.with_overrides(["hidden_size=1.5"])
    with pytest.raises(ConfigError, match="cell"):
        window.with_overrides(["cell=rnn"])
    with pytest.raises(ConfigError, match="loss"):
        window.with_overrides(["loss=bpr"])
    with pytest.raises(ConfigError, match="expected an integer"):
        RecommenderConfig().with_overrides(["hidden=1.5"])
    with pytest.raises(ConfigError, match="model.loss must be one of"):
        RecommenderConfig().with_overrides(["model.loss=bpr"])
    with pytest.raises(ConfigError, match=r"objective.precision must be one of"):
        RecommenderConfig().with_overrides(["objective.precision=float16"])
    with pytest.raises(ConfigError, match=r"train.precision must be one of"):
        RecommenderConfig().with_overrides(["train.precision=float16"])
    # session_gru's step and the window models' softmax both have a precision: name the section
    with pytest.raises(ConfigError, match=r"ambiguous option \(in \['objective', 'train'\]\) 'precision'"):
        RecommenderConfig().with_overrides(["precision=float32"])
    with pytest.raises(ConfigError, match="key=value"):
        RecommenderConfig().with_overrides(["seed"])


def test_shipped_default_config_matches_the_code():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "configs" / "default.toml"
    assert RecommenderConfig.from_toml(path) == RecommenderConfig()


def test_shipped_window_model_config_matches_the_code():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "configs" / "gru4rec.toml"
    assert RecommenderConfig.from_toml(path) == RecommenderConfig().with_overrides(["model.name=gru4rec"])
