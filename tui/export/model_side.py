"""The side inputs of an exported model (issue 16): what tui.export.model_file adds to the
JSON and the `.npz` when the classifier took a prior or a condition, and how predict
applies them to another features file.

Why apart: a model with side inputs is not `sigmoid(x . w + b)` any more; its score
needs the same metadata columns, transformed the same way (the prior's fill value and
rank table, the condition's label names), so all of that travels in the JSON
(`side_inputs`), and the per-label arrays (`V` [K, dim], `offsets` [K]) in the `.npz`.
Such a file is format_version 2, so that a binlabel that knows only version 1 refuses
it rather than scoring without the side inputs. A features file that lacks a column is
refused, naming it and the columns it has.
"""

from __future__ import annotations

import numpy as np

from tui.export.atomic import ExportError
from tui.learn.side_inputs import (Condition, Prior, SideInputError, SideInputs,
                                   codes_from_spec, count_missing, prior_from_spec, read_columns)
from tui.learn.side_model import SideModel, logits
from tui.learn.trainer import sigmoid

SIDE_FORMAT_VERSION = 2


def side_parts(model) -> tuple[dict, dict]:
    """(JSON fields, extra arrays) of a model; both empty for a model without side inputs."""
    if not isinstance(model, SideModel) or model.side is None:
        return {}, {}
    arrays = {}
    if model.V is not None:
        arrays["V"] = np.asarray(model.V, np.float32)
    if model.offsets is not None:
        arrays["offsets"] = np.asarray(model.offsets, np.float32)
    spec = model.side_spec()
    formula = "P(pos) = sigmoid(x . w + b"
    if "V" in arrays:
        formula += " + x . V[c]"
    if "offsets" in arrays:
        formula += " + offsets[c]"
    if "prior" in spec:
        formula += " + prior.coef * logit(p)"
    formula += "), c = the condition's label index (no term for a label not in its values), " \
        "p = the prior column as transformed"
    return {"side_inputs": spec, "formula": formula,
            "format_version": SIDE_FORMAT_VERSION}, arrays


def side_shapes(doc: dict, dim: int) -> dict[str, list]:
    """The shapes the extra arrays must have (checked before they are read)."""
    cond = (doc.get("side_inputs") or {}).get("condition")
    if not cond:
        return {}
    K = len(cond.get("values") or [])
    return {"V": [(K, dim)], "offsets": [(K,)]}


def check_side_doc(p, doc: dict) -> None:
    """The side_inputs fields, each of the type it must have; the first wrong one named."""
    side = doc.get("side_inputs")
    if side is None:
        return
    if not isinstance(side, dict):
        raise ExportError(f"{p}: side_inputs is {side!r}, expected an object")
    pr = side.get("prior")
    if pr is not None:
        ok = (isinstance(pr, dict) and isinstance(pr.get("column"), str)
              and pr.get("transform") in ("probability", "rank")
              and _num(pr.get("fill")) and _num(pr.get("coef")))
        if ok and pr["transform"] == "rank":
            k, lv = pr.get("knots"), pr.get("levels")
            ok = (isinstance(k, list) and isinstance(lv, list) and len(k) == len(lv) >= 1
                  and all(_num(v) for v in k + lv))
        if not ok:
            raise ExportError(f"{p}: side_inputs.prior is not a column, a transform "
                              f"(probability or rank), a fill value and a coefficient")
    cond = side.get("condition")
    if cond is not None:
        if not (isinstance(cond, dict) and isinstance(cond.get("column"), str)
                and isinstance(cond.get("values"), list) and cond["values"]
                and all(isinstance(v, str) for v in cond["values"])):
            raise ExportError(f"{p}: side_inputs.condition is not a column and a list of "
                              f"label names")


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def side_proba(doc: dict, arrays: dict, w: np.ndarray, b: float, features, where: str,
               notes: list[str]) -> np.ndarray:
    """P(pos) of every row of `features` with the side inputs of a model file; ExportError
    naming the columns the file lacks. Notes (filled values, unseen labels) go to `notes`."""
    spec = doc["side_inputs"]
    names = [s["column"] for s in (spec.get("prior"), spec.get("condition")) if s]
    try:
        cols = read_columns(features, names)
    except SideInputError as exc:
        raise ExportError(f"{where} was trained with the side input(s) "
                          f"{', '.join(repr(c) for c in names)}; {exc}. Pass a features file "
                          f"whose items carry {' and '.join(repr(c) for c in exc.columns)}."
                          ) from None
    prior = cond = None
    if spec.get("prior"):
        sp = spec["prior"]
        values = cols[sp["column"]]
        prior = Prior(sp["column"], sp["transform"], float(sp["fill"]),
                      prior_from_spec(values, sp))
        n_fill = count_missing(values)
        if n_fill:
            notes.append(f"--prior {sp['column']}: {n_fill:,} of {features.n:,} items have no "
                         f"numeric value; they get the training column's median, {sp['fill']:.4g}")
    if spec.get("condition"):
        sc = spec["condition"]
        codes, unseen = codes_from_spec(cols[sc["column"]], sc)
        cond = Condition(sc["column"], list(sc["values"]), codes)
        if unseen:
            notes.append(f"--condition {sc['column']}: {unseen:,} items carry a label the model "
                         f"never saw; they get the shared image term alone")
    model = SideModel(0, w, b, 0, 0, 0.0, 0.0,
                      prior_coef=float(spec["prior"]["coef"]) if prior is not None else 0.0,
                      offsets=arrays.get("offsets"), V=arrays.get("V"),
                      side=SideInputs(prior, cond))
    p = sigmoid(logits(model, features))
    p[~features.done] = np.nan
    return p


def pool_proba(model, features) -> np.ndarray:
    """P(pos) of every row of the features file the SideModel was trained on (exports)."""
    p = sigmoid(logits(model, features))
    p[~features.done] = np.nan
    return p
