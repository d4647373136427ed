"""スコアラー / the scorer: shipped JSON model, per-field contributions, retraining from labelled pairs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from matchers import scorer
from matchers.comparisons import MODEL_COMPARISONS

LABELS_HEADER = ["label", "name_kanji_l", "name_kana_l", "birth_date_l", "sex_l", "address_l", "municipality_code_l",
                 "name_kanji_r", "name_kana_r", "alias_name_r", "former_surname_r", "birth_date_r", "sex_r",
                 "address_r", "municipality_code_r", "household_agrees"]

SAME = [
    ["髙橋 一郎", "タカハシ イチロウ", "1960-01-01", 1, "東京都千代田区1-1", "131016",
     "高橋 一郎", "タカハシ イチロウ", "", "", "1960-01-01", 1, "東京都千代田区1丁目1番", "131016", 1],
    ["佐藤 花子", "サトウ ハナコ", "1970-02-02", 2, "東京都千代田区2-2", "131016",
     "鈴木 花子", "スズキ ハナコ", "", "佐藤", "1970-02-02", 2, "東京都千代田区2-2", "131016", 1],
    ["山田 太郎", "ﾔﾏﾀﾞ ﾀﾛｳ", "1980-03-03", 1, "東京都千代田区3-3", "131016",
     "山田 太郎", "ヤマダ タロウ", "", "", "1980-03-03", 1, "東京都千代田区3-3", "131016", ""],
]
DIFFERENT = [
    ["山田 翔太", "ヤマダ ショウタ", "2000-02-02", 1, "東京都千代田区1-1", "131016",
     "山田 健太", "ヤマダ ケンタ", "", "", "2000-02-02", 1, "東京都千代田区1-1", "131016", 1],
    ["佐藤 一郎", "サトウ イチロウ", "1970-03-03", 1, "東京都千代田区2-2", "131016",
     "佐藤 一郎", "サトウ イチロウ", "", "", "1970-03-03", 1, "大阪府大阪市北区1-1", "271004", 0],
    ["山田 花子", "ヤマダ ハナコ", "1962-07-07", 2, "東京都千代田区1-1", "131016",
     "山田 翔太", "ヤマダ ショウタ", "", "", "2000-02-02", 1, "東京都千代田区1-1", "131016", 1],
]


def test_shipped_model_covers_every_level_and_is_json():
    model = scorer.load_model()
    assert set(scorer.feature_names()) <= set(model["pair"]["coef"])
    assert set(model["link"]["coef"]) == set(scorer.LINK_FEATURES)
    assert model["trained_on"]["source"].startswith("reconcile synthetic generator")
    # Exact birth date weighs for the same person, a different one against.
    coef = model["pair"]["coef"]
    assert coef["birth_date=exact"] > 0 > coef["birth_date=else"]
    assert coef["name_kanji=notation"] > coef["name_kanji=given_differs"]


def test_contributions_sum_to_the_logit():
    frame = pd.DataFrame([dict(zip(LABELS_HEADER, row)) for row in [[1, *SAME[0]], [0, *DIFFERENT[0]]]])
    pairs = scorer.compare_labelled(frame)
    model = scorer.load_model()
    parts = scorer.contributions(pairs, model)
    assert set(parts) == {c.field for c in MODEL_COMPARISONS}
    total = model["pair"]["intercept"] + sum(parts.values())
    np.testing.assert_allclose(total, scorer.pair_logit(pairs, model))
    p = scorer.sigmoid(scorer.pair_logit(pairs, model))
    # A twin (only the given name differs) is below even odds on its own; the link model then
    # weighs it against the twin's own resident.
    assert p[0] > 0.9 and p[1] < 0.5


def test_train_from_labels_writes_a_json_model(tmp_path):
    rows = [[1, *r] for r in SAME] * 5 + [[0, *r] for r in DIFFERENT] * 5
    path = tmp_path / "labels.csv"
    pd.DataFrame(rows, columns=LABELS_HEADER).to_csv(path, index=False)
    saved = scorer.train_from_labels(path, tmp_path / "model.json")
    assert saved == tmp_path / "model.json"
    model = json.loads(saved.read_text(encoding="utf-8"))
    assert model["trained_on"]["pairs"] == 30 and model["trained_on"]["same"] == 15
    assert model["link"] == scorer.load_model()["link"]  # the link model is kept
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    p = scorer.sigmoid(scorer.pair_logit(scorer.compare_labelled(frame), model))
    labels = frame["label"].astype(int).to_numpy()
    assert (p[labels == 1] > 0.5).all() and (p[labels == 0] < 0.5).all()


def test_train_from_labels_refuses_one_class(tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame([[1, *SAME[0]]], columns=LABELS_HEADER).to_csv(path, index=False)
    with pytest.raises(ValueError, match="both labels"):
        scorer.train_from_labels(path)
