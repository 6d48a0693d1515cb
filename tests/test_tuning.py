import json
import logging

import pytest

from rnnrec.config import RecommenderConfig
from rnnrec.errors import ConfigError, TrainingError
from rnnrec.tuning import ParamSpec, load_space, override, storage_url, tune, write_best_config


def window_config() -> RecommenderConfig:
    """The window-trained GRU, whose options (hidden_size, objective.loss ...) these spaces tune."""
    return RecommenderConfig().with_overrides(["model.name=gru4rec"])


def bowl(config: RecommenderConfig) -> float:
    """Maximum 0 at learning_rate 0.01, hidden_size 96."""
    return -((config.train.learning_rate - 0.01) ** 2) - (config.model.hidden_size - 96) ** 2 / 1e4


def write_jsonl(path, *objs):
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs))
    return path


LR = {"name": "train.learning_rate", "dtype": "float", "values": [0.001, 0.05], "step": 0.001}
HIDDEN = {"name": "hidden_size", "dtype": "int", "values": [32, 256], "step": 32}


def test_load_jsonl_space(tmp_path):
    path = write_jsonl(
        tmp_path / "space.json",
        LR,
        "",
        "# a comment",
        HIDDEN,
        {"name": "train.batch_size", "dtype": "int", "values": [32, 256], "step": 16, "log": False},
        {"name": "train.weight_decay", "dtype": "float", "values": [1e-6, 1e-2], "log": True},
        {"name": "objective.loss", "dtype": "categorical", "values": ["ce", "sampled_ce"]},
    )
    space = load_space(path)
    assert [s.name for s in space] == [
        "train.learning_rate", "hidden_size", "train.batch_size", "train.weight_decay", "objective.loss"
    ]
    assert space[0] == ParamSpec("train.learning_rate", "float", (0.001, 0.05), 0.001, False, f"{path}:1")
    assert space[1].where == f"{path}:4" and space[1].values == (32, 256) and space[1].step == 32
    assert space[3].log is True and space[3].step is None
    assert space[4].values == ("ce", "sampled_ce")


def test_load_toml_space(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(
        "# search space\n"
        "[[param]]\nname = \"train.learning_rate\"\ndtype = \"float\"\nvalues = [0.001, 0.05]\nlog = true\n\n"
        "[[param]]  # the cell\nname = \"model.cell\"\ndtype = \"categorical\"\nvalues = [\"gru\", \"lstm\"]\n"
    )
    space = load_space(path)
    assert space == [
        ParamSpec("train.learning_rate", "float", (0.001, 0.05), None, True, f"{path}:2"),
        ParamSpec("model.cell", "categorical", ("gru", "lstm"), None, False, f"{path}:8"),
    ]
    path.write_text("[[param]]\nname = \"model.cell\"\ndtype = \"categorical\"\nvalues = []\n")
    with pytest.raises(ConfigError, match=r"space\.toml:1: model\.cell: categorical \"values\" must be a non-empty"):
        load_space(path)


@pytest.mark.parametrize(
    "bad, expected",
    [
        ('{"name": "hidden_size", "dtype": "int", "values": [1, 2]', "not valid JSON"),
        ({"name": "hidden_size", "dtype": "integer", "values": [1, 2]}, "unknown dtype 'integer'"),
        ({"dtype": "int", "values": [1, 2]}, 'missing "name"'),
        ({"name": "hidden_size", "dtype": "int", "values": [1, 2, 3]}, "must be a range \\[low, high\\]"),
        ({"name": "hidden_size", "dtype": "int", "values": 5}, "must be a range \\[low, high\\]"),
        ({"name": "hidden_size", "dtype": "int", "values": [1.5, 2]}, "two integers"),
        ({"name": "hidden_size", "dtype": "int", "values": [64, 32]}, "low 64 > high 32"),
        ({"name": "objective.loss", "dtype": "categorical", "values": []}, "non-empty list"),
        ({"name": "learning_rate", "dtype": "float", "values": [0.1, 1], "step": 0.1, "log": True}, "cannot be combined"),
        ({"name": "learning_rate", "dtype": "float", "values": [0.0, 1], "log": True}, "needs low > 0"),
        ({"name": "hidden_size", "dtype": "int", "values": [1, 2], "stp": 1}, "unknown field\\(s\\) \\['stp'\\]"),
        ([1, 2], "expected an object"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, bad, expected):
    path = write_jsonl(tmp_path / "space.jsonl", LR, bad)
    with pytest.raises(ConfigError, match=expected) as info:
        load_space(path)
    assert str(info.value).startswith(f"{path}:2: ")


def test_duplicate_and_empty_spaces(tmp_path):
    path = write_jsonl(tmp_path / "space.jsonl", LR, HIDDEN, LR)
    with pytest.raises(ConfigError, match=r"space\.jsonl:3: parameter 'train.learning_rate' already given at .*:1"):
        load_space(path)
    path.write_text("\n# nothing\n")
    with pytest.raises(ConfigError, match="no parameters"):
        load_space(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_space(tmp_path / "missing.jsonl")


def test_unknown_parameter_name_names_the_line(tmp_path):
    path = write_jsonl(tmp_path / "space.jsonl", LR, {"name": "model.hiden_size", "dtype": "int", "values": [32, 64]})
    calls = []
    with pytest.raises(ConfigError, match=r"space\.jsonl:2: parameter 'model.hiden_size' does not fit") as info:
        tune(window_config(), path, calls.append, n_trials=2, progress=False)
    assert "unknown option 'model.hiden_size'" in str(info.value)
    assert calls == []  # nothing ran
    # a float range for an int option is caught the same way, before any trial
    write_jsonl(path, {"name": "hidden_size", "dtype": "float", "values": [32, 64]})
    with pytest.raises(ConfigError, match=r"space\.jsonl:1: .*expected an integer"):
        tune(window_config(), path, calls.append, n_trials=2, progress=False)


def test_tune_finds_the_optimum_1d(tmp_path):
    space = load_space(write_jsonl(tmp_path / "space.jsonl", LR))
    base = window_config().with_overrides(["hidden_size=96"])
    result = tune(base, space, bowl, n_trials=30, seed=0, progress=False)
    lr = result.best_config.train.learning_rate
    assert abs(lr - 0.01) <= 0.003
    assert result.best_value == pytest.approx(bowl(result.best_config))
    assert result.best_overrides == [f"train.learning_rate={lr!r}"]
    assert result.n_trials_completed == 30 and len(result.trials) == 30
    assert all(t["state"] == "COMPLETE" for t in result.trials)
    assert result.storage is None and result.study_name == "rnnrec"
    # everything else comes from the base config
    assert result.best_config == base.with_overrides([f"train.learning_rate={lr!r}"])


def test_tune_2d_with_categorical_and_fixed(tmp_path):
    path = write_jsonl(
        tmp_path / "space.jsonl", LR, HIDDEN, {"name": "model.cell", "dtype": "categorical", "values": ["gru", "lstm"]}
    )
    seen = []

    def objective(config):
        seen.append((config.model.cell, config.train.epochs))
        return bowl(config) + (0.5 if config.model.cell == "lstm" else 0.0)

    result = tune(window_config(), path, objective, n_trials=25, fixed=["train.epochs=3"], progress=False)
    assert {epochs for _, epochs in seen} == {3}
    assert {cell for cell, _ in seen} == {"gru", "lstm"}
    assert result.best_config.model.cell == "lstm"
    assert result.best_config.train.epochs == 3
    assert result.best_overrides[0] == "train.epochs=3"
    assert 'model.cell="lstm"' in result.best_overrides
    assert abs(result.best_config.model.hidden_size - 96) <= 32
    assert window_config().with_overrides(result.best_overrides) == result.best_config


def test_resume_runs_only_missing_trials(tmp_path):
    space = load_space(write_jsonl(tmp_path / "space.jsonl", LR, HIDDEN))
    db = tmp_path / "study.db"
    calls = []

    def objective(config):
        calls.append(config)
        return bowl(config)

    first = tune(window_config(), space, objective, n_trials=5, storage=str(db), study_name="s", progress=False)
    assert len(calls) == 5 and first.n_trials_completed == 5
    assert db.exists() and first.storage == f"sqlite:///{db.resolve()}"
    second = tune(window_config(), space, objective, n_trials=8, storage=db, study_name="s", progress=False)
    assert len(calls) == 8  # exactly 3 new objective calls
    assert second.n_trials_completed == 8
    assert [t["number"] for t in second.trials] == list(range(8))
    assert second.best_value == max(t["value"] for t in second.trials) == max(bowl(c) for c in calls)
    # already complete: nothing runs
    third = tune(window_config(), space, objective, n_trials=8, storage=db, study_name="s", progress=False)
    assert len(calls) == 8 and third.n_trials_completed == 8 and third.best_value == second.best_value
    # a different study name in the same file starts afresh
    other = tune(window_config(), space, objective, n_trials=2, storage=db, study_name="t", progress=False)
    assert len(calls) == 10 and other.n_trials_completed == 2


def test_failing_trials_are_recorded_and_search_continues(tmp_path):
    space = load_space(write_jsonl(tmp_path / "space.jsonl", HIDDEN))
    calls = []

    def objective(config):
        calls.append(config.model.hidden_size)
        if config.model.hidden_size > 128:
            raise TrainingError(f"loss became NaN with hidden_size {config.model.hidden_size}")
        return bowl(config)

    result = tune(window_config(), space, objective, n_trials=15, progress=False)
    assert len(calls) == 15
    failed = [t for t in result.trials if t["state"] == "PRUNED"]
    assert failed and all(t["params"]["hidden_size"] > 128 for t in failed)
    assert all(t["error"].startswith("TrainingError: loss became NaN") for t in failed)
    assert all(t["value"] is None for t in failed)
    assert result.n_trials_completed == 15 - len(failed)
    assert result.best_config.model.hidden_size == 96


def test_invalid_combination_is_a_failed_trial_and_other_errors_propagate(tmp_path):
    # dropout 1.0 is rejected by the config itself: the trial fails, the search goes on
    space = [ParamSpec("dropout_hidden", "categorical", (0.5, 1.0)), ParamSpec("hidden_size", "int", (32, 256), 32)]
    result = tune(window_config(), space, bowl, n_trials=12, progress=False)
    failed = [t for t in result.trials if t["state"] == "PRUNED"]
    assert failed and all(t["params"]["dropout_hidden"] == 1.0 for t in failed)
    assert all("dropout_hidden" in t["error"] for t in failed)
    assert result.best_config.model.dropout_hidden == 0.5

    def broken(config):
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        tune(window_config(), space[1:], broken, n_trials=3, progress=False)


def test_all_trials_failing_is_an_error(tmp_path):
    def objective(config):
        raise TrainingError("always NaN")

    with pytest.raises(Exception, match="no trial completed"):
        tune(window_config(), [ParamSpec("hidden_size", "int", (32, 64))], objective, n_trials=3, progress=False)


def test_write_best_config_round_trips(tmp_path):
    space = load_space(write_jsonl(tmp_path / "space.jsonl", LR, HIDDEN))
    result = tune(window_config(), space, bowl, n_trials=6, study_name="my study", progress=False)
    path = write_best_config(result, tmp_path / "out" / "best.toml")
    text = path.read_text()
    assert text.startswith("# Best config of study 'my study': value ")
    assert "after 6 completed trial(s)" in text.splitlines()[0]
    assert RecommenderConfig.from_toml(path) == result.best_config
    assert [p.name for p in path.parent.iterdir()] == ["best.toml"]  # no temp file left


def test_storage_url():
    assert storage_url(None) is None
    assert storage_url("sqlite:///x.db") == "sqlite:///x.db"
    assert storage_url("postgresql://u@h/db") == "postgresql://u@h/db"
    url = storage_url("study.db")
    assert url.startswith("sqlite:////") and url.endswith("/study.db")


def test_override_strings_parse_back():
    assert override("objective.loss", "sampled_ce") == 'objective.loss="sampled_ce"'
    assert override("x", 'a"b\\c') == 'x="a\\"b\\\\c"'
    assert override("tied_embeddings", False) == "tied_embeddings=false"
    assert override("lr", 0.022000000000000002) == "lr=0.022"
    assert override("lr", 1e-05) == "lr=1e-05"
    assert override("hidden_size", 96) == "hidden_size=96"
    c = window_config().with_overrides(
        [override("learning_rate", 1e-05), override("monitor", "MRR@20"), override("tied_embeddings", False)]
    )
    assert (c.train.learning_rate, c.train.monitor, c.model.tied_embeddings) == (1e-05, "MRR@20", False)


def test_trials_are_logged(tmp_path, caplog):
    space = [ParamSpec("objective.loss", "categorical", ("ce", "sampled_ce"))]
    with caplog.at_level(logging.INFO, logger="rnnrec"):
        tune(window_config(), space, lambda c: 1.0 if c.objective.loss == "ce" else 2.0, n_trials=3, progress=False)
    messages = [r.getMessage() for r in caplog.records if r.name == "rnnrec"]
    assert len(messages) == 3
    assert any(m.endswith('[objective.loss="sampled_ce"]: value 2') for m in messages)


def test_resuming_with_another_direction_is_an_error(tmp_path):
    space = [ParamSpec("hidden_size", "int", (32, 64))]
    db = tmp_path / "s.db"
    tune(window_config(), space, bowl, n_trials=2, storage=db, progress=False)
    with pytest.raises(ConfigError, match="created to maximize, not to minimize"):
        tune(window_config(), space, bowl, n_trials=3, storage=db, direction="minimize", progress=False)
