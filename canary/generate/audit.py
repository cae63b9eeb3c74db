"""Self-audit: can a classifier tell a trial batch of canaries from the host's real patients?

``canary plan SYSTEM --against EXPORT`` reads the export once (rows are read and dropped: the dump's
frequencies and a uniform sample of people stay in memory while it runs), draws a trial batch of
canaries in memory, and runs a two-sample classifier test: a gradient-boosted classifier on every
feature of ``audit_features`` (the row's values, their frequencies and ranks in the dump, IPP order
against birth dates, pairs of fields), stratified k-fold, balanced classes. It reports the AUC with a
confidence interval, the features that carry it (permutation importance) and each single-feature
filter's advantage, as the planner defines it (share of canaries a filter removes minus share of real
patients it removes), beyond what the same filter finds on a random real sample of the same size.
Only these figures are kept (``audit_store``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from canary.errors import CanaryError
from canary.generate.audit_features import (
    FEATURES,
    Columns,
    DumpCounts,
    IppOrder,
    Person,
    Places,
    Reservoir,
    feature_matrix,
    person_of_canary,
    person_of_row,
    usable_features,
)
from canary.generate.plan import THRESHOLD

AUC_THRESHOLD = 0.55  # above this a classifier separates the batch from real patients
REAL_SAMPLE = 10_000  # real people kept for the filters (the classifier takes as many as there are canaries)
FOLDS = 5
NULL_DRAWS = 5  # random real samples the chance advantage is averaged over
MIN_ROWS = 50
_MISSING = -1e300  # a missing value sorts first: "value missing" is one of the filters tried
INSTALL_HINT = "the self-audit needs scikit-learn: pip install 'canary[audit]'"


def require_sklearn() -> Any:
    """scikit-learn, or one line saying how to install it."""
    try:
        import sklearn.ensemble
        import sklearn.model_selection
    except ImportError:
        raise CanaryError(INSTALL_HINT) from None
    return sklearn


def read_dump(columns: Columns, rows: Iterable[Mapping[str, Any]], canaries: Sequence[Mapping[str, Any]], *,
              site_department: str | None, today: date, seed: int) -> tuple[DumpCounts, list[Person], list[Person]]:
    """One pass over the real rows: the dump's counts (canaries included) and a sample of real people."""
    dump = DumpCounts(today.toordinal(), site_department)
    reservoir = Reservoir(REAL_SAMPLE, random.Random(seed))
    for row in rows:
        person = person_of_row(row, columns)
        dump.add(person)
        reservoir.offer(person)
    trial = [person_of_canary(c) for c in canaries]
    for person in trial:
        dump.add(person)
    if reservoir.seen < MIN_ROWS:
        raise CanaryError(f"the export holds {reservoir.seen} patients; the audit needs at least {MIN_ROWS}")
    return dump, reservoir.people, trial


def auc_interval(auc: float, positives: int, negatives: int) -> tuple[float, float]:
    """95 % interval of an AUC (Hanley and McNeil's standard error)."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / max(
        1, positives * negatives)
    half = 1.96 * math.sqrt(max(var, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def classifier_test(canaries: np.ndarray, real: np.ndarray, names: list[str], seed: int) -> dict[str, Any]:
    """Cross-validated AUC of a gradient-boosted classifier, and the features that carry it."""
    sk = require_sklearn()
    rng = np.random.default_rng(seed)
    n = min(len(canaries), len(real))
    if n < FOLDS * 2:
        raise CanaryError(f"too few rows for the classifier test ({n} per side, {FOLDS * 2} needed)")
    x = np.vstack([canaries[rng.choice(len(canaries), n, replace=False)],
                   real[rng.choice(len(real), n, replace=False)]])
    y = np.r_[np.ones(n), np.zeros(n)]
    scores = np.zeros(2 * n)
    importance = np.zeros(x.shape[1])
    folds = sk.model_selection.StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    # One thread: OpenMP threads on a shared machine only wait for each other (measured 6x slower).
    with threadpool_limits(1):
        for train, test in folds.split(x, y):
            model = sk.ensemble.HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                                               early_stopping=False, random_state=seed)
            model.fit(x[train], y[train])
            scores[test] = model.predict_proba(x[test])[:, 1]
            importance += _permutation_drop(model, x[test], y[test], rng) / FOLDS
    auc = rank_auc(scores, y)
    low, high = auc_interval(auc, n, n)
    carried = sorted(((float(v), names[i]) for i, v in enumerate(importance) if v > 0.002), reverse=True)
    return {"auc": round(auc, 3), "auc_ci": [round(low, 3), round(high, 3)], "per_side": n,
            "features": [{"name": name, "importance": round(v, 3)} for v, name in carried[:12]]}


def rank_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """AUC as the Mann-Whitney statistic (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positives = labels == 1
    n1, n0 = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n1 * (n1 + 1) / 2) / max(1, n1 * n0))


def _permutation_drop(model: Any, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """How much the held-out AUC falls when one feature's column is shuffled (two shuffles each)."""
    base = rank_auc(model.predict_proba(x)[:, 1], y)
    drops = np.zeros(x.shape[1])
    for j in range(x.shape[1]):
        for _ in range(2):
            shuffled = x.copy()
            shuffled[:, j] = shuffled[rng.permutation(len(x)), j]
            drops[j] += (base - rank_auc(model.predict_proba(shuffled)[:, 1], y)) / 2
    return drops


def _best_split(canaries: np.ndarray, real: np.ndarray) -> tuple[float, float, float, str]:
    """The threshold filter ``value <= t`` (missing values first) with the largest share gap."""
    pooled = np.concatenate([canaries, real])
    cuts = np.unique(np.concatenate([np.quantile(pooled, np.linspace(0, 1, 41)), np.unique(pooled)[:40]]))
    c_share = np.searchsorted(np.sort(canaries), cuts, side="right") / len(canaries)
    r_share = np.searchsorted(np.sort(real), cuts, side="right") / len(real)
    gap = np.abs(c_share - r_share)
    i = int(np.argmax(gap))
    cut = cuts[i]
    # The side with the smaller shares is what a thief would remove: report that side.
    if c_share[i] + r_share[i] > 1:
        label = f"> {cut:.4g}" if cut > _MISSING else "given"
        return float(gap[i]), 1 - float(c_share[i]), 1 - float(r_share[i]), label
    label = f"<= {cut:.4g}" if cut > _MISSING else "missing"
    return float(gap[i]), float(c_share[i]), float(r_share[i]), label


def single_filters(canaries: np.ndarray, real: np.ndarray, names: list[str], seed: int) -> list[dict[str, Any]]:
    """Each feature's best threshold filter: its advantage beyond the same filter search on random real samples."""
    rng = np.random.default_rng(seed + 1)
    c = np.where(np.isnan(canaries), _MISSING, canaries)
    r = np.where(np.isnan(real), _MISSING, real)
    out = []
    size = min(len(c), len(r) // 2)
    for j, name in enumerate(names):
        gap, c_share, r_share, label = _best_split(c[:, j], r[:, j])
        chance = 0.0
        for _ in range(NULL_DRAWS):
            pick = rng.permutation(len(r))
            chance += _best_split(r[pick[:size], j], r[pick[size:], j])[0] / NULL_DRAWS
        advantage = max(0.0, gap - chance)
        out.append({"name": name, "split": label, "canaries_flagged": round(c_share, 4),
                    "patients_flagged": round(r_share, 4), "noise": round(chance, 4),
                    "advantage": round(advantage, 4), "exceeds": advantage > THRESHOLD})
    return sorted(out, key=lambda f: -f["advantage"])


def run_audit(columns: list[str], rows: Iterable[Mapping[str, Any]], canaries: Sequence[Mapping[str, Any]], *,
              mapping: Mapping[str, str] | None, places: Places, site_department: str | None, today: date,
              seed: int = 1) -> dict[str, Any]:
    """The audit's figures (JSON-ready): no value of any row is in them."""
    require_sklearn()  # before reading a 200,000-row export for nothing
    if not canaries:
        raise CanaryError("the trial batch is empty")
    found = Columns.of(columns, mapping)
    if not found.fields:
        raise CanaryError("no column is a known patient field: not a CSV or JSON export of patients? "
                          "(map its columns with --mapping COLUMN=FIELD)")
    if not found.has("birth_date"):
        raise CanaryError("the export has no birth-date column; map one with --mapping COLUMN=birth_date")
    dump, real_people, trial = read_dump(found, rows, canaries, site_department=site_department, today=today,
                                         seed=seed)
    order = IppOrder(dump)
    keep = usable_features(found)
    names = [FEATURES[i][0] for i in keep]
    real = feature_matrix(real_people, dump, places, order, keep)
    fake = feature_matrix(trial, dump, places, order, keep)
    unchecked = found.unchecked()
    if site_department is None:
        unchecked.append("the site's department (the system has no place)")
    test = classifier_test(fake, real, names, seed)
    filters = single_filters(fake, real, names, seed)
    return {"auc": test["auc"], "auc_ci": test["auc_ci"], "features": test["features"], "filters": filters,
            "unchecked": unchecked, "rows": dump.total - len(trial), "trial": len(trial),
            "per_side": test["per_side"], "auc_threshold": AUC_THRESHOLD, "threshold": THRESHOLD,
            "built_on": today.isoformat()}


def places_for(reference: Any, geography: Any, site: Any) -> Places:
    """Postcode points (the first commune of each postcode), the site's point, the national surname ranks."""
    postcodes: dict[str, Any] = {}
    for commune in reference.communes.values():
        point = geography.points.get(commune.code)
        if point:
            for postcode in commune.postcodes:
                postcodes.setdefault(postcode, point)
    site_point = geography.points.get(site.commune.code) if site else None
    ranks = {name: i for i, name in enumerate(reference.surnames.items)}
    return Places(site_point, postcodes, ranks)
