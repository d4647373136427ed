"""スコアリング / the scorer: comparison levels → calibrated probabilities.

Two logistic regressions (scikit-learn), shipped as JSON coefficients (``model.json`` beside
this module; no pickles):

- **pair model** — P(same person | comparison levels of one member–resident pair). Features are
  one-hot level codes of :data:`matchers.comparisons.MODEL_COMPARISONS` (``"birth_date=exact"`` …).
  ``last4`` is not a feature: on the linked path it agrees by construction. The coefficient of
  the level that held is that field's *contribution* (log-odds) shown in the evidence.
- **link model** — P(the member's link is wrong | pair logit of the linked resident, best pair
  logit among the other candidates, whether there is another candidate).

The shipped model is trained reproducibly from the synthetic generator
(``python benchmarks/train_matcher.py``); stewards' decisions retrain the pair model with
:func:`train_from_labels` (``reconcile train LABELS.csv``).

Labelled-pairs CSV (UTF-8, header; one row per decided pair)::

    label                        1 = same person, 0 = different persons (required)
    name_kanji_l, name_kana_l, name_alpha_l, birth_date_l, sex_l, address_l,
    number_last4_l, municipality_code_l                        the member side (municipality:
                                                               the 国保 insurer's own code)
    name_kanji_r, name_kana_r, name_alpha_r, alias_name_r, former_surname_r, birth_date_r,
    sex_r, address_r, number_last4_r, municipality_code_r      the resident side
    household_agrees             1 / 0 / empty (unknown): the resident is in the registry
                                 household of the member's other household members

Only ``label`` and the two ``birth_date`` / ``name_*`` columns are required; others may be
empty. Dates as ``YYYY-MM-DD``, sex ``1``/``2``.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from matchers.comparisons import COMPARISONS, MODEL_COMPARISONS, compare

MODEL_FILE = Path(__file__).with_name("model.json")
LINK_FEATURES = ("logit_linked", "logit_other", "has_other")

LABEL_COLUMNS_LEFT = ["name_kanji", "name_kana", "name_alpha", "birth_date", "sex", "address",
                      "number_last4", "municipality_code"]
LABEL_COLUMNS_RIGHT = ["name_kanji", "name_kana", "name_alpha", "alias_name", "former_surname",
                       "birth_date", "sex", "address", "number_last4", "municipality_code"]


def feature_names() -> list[str]:
    return [f"{c.field}={level.code}" for c in MODEL_COMPARISONS for level in c.levels]


def design_matrix(pairs: pd.DataFrame) -> np.ndarray:
    """One-hot level codes of the compared pairs (rows × :func:`feature_names`)."""
    columns = []
    for comparison in MODEL_COMPARISONS:
        codes = pairs[f"level_{comparison.field}"].to_numpy(dtype=object)
        for level in comparison.levels:
            columns.append(codes == level.code)
    return np.column_stack(columns).astype(np.float64) if columns else np.zeros((len(pairs), 0))


@lru_cache(maxsize=8)
def _load(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_model(path: str | Path | None = None) -> dict[str, Any]:
    """The model JSON at ``path`` or the shipped one."""
    return _load(str(path or MODEL_FILE))


def contributions(pairs: pd.DataFrame, model: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per-field log-odds contribution of the level that held, per pair."""
    coef = model["pair"]["coef"]
    out = {}
    for comparison in MODEL_COMPARISONS:
        column = pairs[f"level_{comparison.field}"]
        if isinstance(column.dtype, pd.CategoricalDtype):
            # Level columns are categoricals: one weight per category, taken by code.
            weights = np.array([coef.get(f"{comparison.field}={c}", 0.0) for c in column.cat.categories] + [0.0])
            out[comparison.field] = weights[column.cat.codes.to_numpy()]
            continue
        codes = column.to_numpy(dtype=object)
        lookup = {level.code: coef.get(f"{comparison.field}={level.code}", 0.0) for level in comparison.levels}
        out[comparison.field] = np.array([lookup.get(c, 0.0) for c in codes], dtype=np.float64)
    return out


def pair_logit(pairs: pd.DataFrame, model: Mapping[str, Any]) -> np.ndarray:
    """Log-odds that each pair is the same person."""
    total = np.full(len(pairs), float(model["pair"]["intercept"]))
    for values in contributions(pairs, model).values():
        total += values
    return total


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def link_wrong_probability(logit_linked: np.ndarray, logit_other: np.ndarray, has_other: np.ndarray,
                           model: Mapping[str, Any]) -> np.ndarray:
    """P(the link is wrong) from the linked pair's and the best other candidate's logits."""
    link = model["link"]
    other = np.where(has_other, logit_other, 0.0)
    z = (link["intercept"] + link["coef"]["logit_linked"] * logit_linked
         + link["coef"]["logit_other"] * other + link["coef"]["has_other"] * has_other.astype(float))
    return sigmoid(z)


# --- training ---------------------------------------------------------------------------------
def fit_logistic(x: np.ndarray, y: np.ndarray, names: list[str], c: float = 1.0) -> dict[str, Any]:
    """Fit an L2 logistic regression and return its coefficients as a JSON-able dict."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000, class_weight=None)
    model.fit(x, y)
    return {"intercept": float(model.intercept_[0]),
            "coef": {name: round(float(w), 6) for name, w in zip(names, model.coef_[0])}}


def fit_pair_model(pairs: pd.DataFrame, same: np.ndarray) -> dict[str, Any]:
    """Pair model from compared pairs and their labels (1 same person, 0 different)."""
    return fit_logistic(design_matrix(pairs), np.asarray(same, dtype=int), feature_names())


def fit_link_model(logit_linked: np.ndarray, logit_other: np.ndarray, has_other: np.ndarray,
                   wrong: np.ndarray) -> dict[str, Any]:
    """Link model from per-member logits and whether the link was really wrong."""
    x = np.column_stack([logit_linked, np.where(has_other, logit_other, 0.0), has_other.astype(float)])
    return fit_logistic(x, np.asarray(wrong, dtype=int), list(LINK_FEATURES), c=10.0)


def _side(frame: pd.DataFrame, suffix: str, columns: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        source = f"{column}{suffix}"
        if source in frame:
            out[column] = frame[source]
        else:
            out[column] = pd.NA
    for column in out.columns:
        if column == "birth_date":
            out[column] = pd.to_datetime(out[column], errors="coerce")
        elif column == "sex":
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("Int64")
        else:
            out[column] = out[column].astype("string")
    return out


def compare_labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Compared pairs of a labelled-pairs frame (the CSV format of this module)."""
    from matchers.prepare import pairs_frame, prepare_side

    left = _side(frame, "_l", LABEL_COLUMNS_LEFT)
    right = _side(frame, "_r", LABEL_COLUMNS_RIGHT)
    prepared_l = prepare_side(left, "members")
    prepared_l["municipality"] = left["municipality_code"].to_numpy(dtype=object, na_value=None)
    prepared_r = prepare_side(right, "residents")
    idx = np.arange(len(frame))
    pairs = pairs_frame(prepared_l, prepared_r, idx, idx)
    agrees = frame["household_agrees"] if "household_agrees" in frame else pd.Series(pd.NA, index=frame.index)
    agrees = pd.to_numeric(agrees, errors="coerce").to_numpy()
    pairs["household_state"] = np.where(np.isnan(agrees), "unknown", np.where(agrees > 0, "same", "different"))
    return compare(pairs, COMPARISONS)


def train_from_labels(path: str | Path, out_path: str | Path | None = None,
                      base_model: Mapping[str, Any] | None = None) -> Path:
    """Retrain the pair model from a labelled-pairs CSV and save the model JSON.

    The link model of ``base_model`` (default: the shipped model) is kept. Returns the path
    written (default: ``matcher-model.json`` beside the CSV).
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    if "label" not in frame:
        raise ValueError(f"{path}: the labelled-pairs CSV needs a 'label' column (1 same person, 0 different)")
    labels = pd.to_numeric(frame["label"], errors="raise").astype(int).to_numpy()
    if len(set(labels)) < 2:
        raise ValueError(f"{path}: both labels (1 and 0) are needed to train")
    pairs = compare_labelled(frame)
    base = dict(base_model or load_model())
    model = {**base, "pair": fit_pair_model(pairs, labels),
             "trained_on": {"source": str(path), "pairs": int(len(frame)),
                            "same": int(labels.sum()), "different": int((labels == 0).sum())}}
    target = Path(out_path) if out_path else Path(path).with_name("matcher-model.json")
    save_model(model, target)
    return target


def save_model(model: Mapping[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(model, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    _load.cache_clear()
