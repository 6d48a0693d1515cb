"""RecBole 1.2.1 GRU4RecF (GRU4Rec + an item-feature GRU, loss_type CE) on an exported `loo` split.

Run with the RecBole virtualenv:
``benchmarks/.envs/recbole/bin/python benchmarks/peers/recbole_gru4recf.py --split DIR --seed N --out DIR
--epochs 2 --item-file /work/shared/datasets/ml-100k/ml-100k.item``

Everything but the item features is ``recbole_gru4rec.py`` (same interaction file, leave-one-out
split, target checks, checkpoint restore, full-ranking scores and output files); only the model
and the item file differ.

- Item file: ``--item-file`` is a RecBole atomic item file. Its header and the rows whose
  ``item_id`` is in the split's catalogue are copied verbatim to ``<workdir>/data/bench/bench.item``.
  The split's item IDs (``items.txt``, ``*.tsv``) are the dataset's own item tokens, so they are
  matched as strings to the item file's ``item_id`` column; the runner stops if none match.
  Catalogue items without a row get RecBole's empty feature; their count is in result.json.
- Features read: GRU4RecF reads exactly the fields named in ``selected_features``
  (``FeatureSeqEmbLayer``: each token / token_seq field is embedded, a token_seq's tokens are pooled
  with ``pooling_mode``, the fields are concatenated and fed to a second GRU). It could embed
  ``release_year`` (token) or ``movie_title`` (token_seq) only if they were named there. The runner
  keeps RecBole's default and ml-100k example, ``selected_features: ['class']`` (the genres), so it
  loads only ``item_id`` and ``class`` from the item file (``load_col.item``): other columns would sit
  in the item feature table without the model reading them.
- Config: RecBole's defaults (overall.yaml + GRU4RecF.yaml: embedding 64, hidden 128, 1 layer,
  dropout 0.3, selected_features ['class'], pooling_mode sum, loss CE, Adam lr 1e-3, batch 2048,
  MAX_ITEM_LIST_LENGTH 50, valid metric MRR@10, stopping_step 10, epochs 300). Overridden as for
  GRU4Rec (``epochs`` cap, ``train_neg_sample_args: None``, data location / columns / LS split,
  ``device: cpu``, ``seed``, ``show_progress: False``) plus ``load_col.item``.
- Scores: ``full_sort_predict`` = sequence output · ``item_embedding``; features enter only the
  sequence encoder, so an item's own score vector has no feature part. The checkpoint restore also
  restores GRU4RecF's ``other_parameter`` (its pickled ``feature_embed_layer``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recbole_gru4rec import INTER_COLS, build_parser, prepare, run  # noqa: E402

from recbole.model.sequential_recommender import GRU4RecF  # noqa: E402

SELECTED_FEATURES = ["class"]


def write_item_file(src: Path, dst: Path, catalogue: set[str], fields: list[str]) -> dict:
    """Copies ``src``'s header and the rows of catalogue items to ``dst``; returns the counts."""
    with open(src, encoding="utf-8", newline="") as f:
        lines = f.read().splitlines()
    header = lines[0]
    names = [col.split(":")[0] for col in header.split("\t")]
    missing = [name for name in ["item_id", *fields] if name not in names]
    if missing:
        raise ValueError(f"{src}: no column {missing} in header {header!r}")
    id_col = names.index("item_id")
    kept, seen = [header], set()
    for line in lines[1:]:
        item = line.split("\t")[id_col]
        if item in catalogue and item not in seen:
            kept.append(line)
            seen.add(item)
    if not seen:
        raise ValueError(f"{src}: no item_id matches the split's item IDs (e.g. {sorted(catalogue)[:3]})")
    dst.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return {
        "item_file": str(src),
        "n_item_file_rows": len(lines) - 1,
        "n_items_with_features": len(seen),
        "n_catalogue_items_without_features": len(catalogue - seen),
    }


def main() -> None:
    ap = build_parser(__doc__)
    ap.add_argument("--item-file", required=True, help="RecBole atomic item file (item_id:token + features)")
    args = ap.parse_args()
    item_file = Path(args.item_file).resolve()

    sf, work = prepare(args)
    counts = write_item_file(item_file, work / "data" / "bench" / "bench.item", set(sf.catalogue), SELECTED_FEATURES)
    print(f"item features: {counts}", flush=True)
    run(
        args, sf, work, GRU4RecF,
        extra_config={
            "load_col": {"inter": INTER_COLS, "item": ["item_id", *SELECTED_FEATURES]},
            "selected_features": SELECTED_FEATURES,
        },
        extra_keys=("selected_features", "pooling_mode", "load_col"),
        extra_result={"item_features": counts},
    )


if __name__ == "__main__":
    main()
