"""The backtest's verdict says the score predicts churn only when the AUC's interval lies above
0.5, the riskiest tenth churned more than the rest and churn rises with every worse grade."""

from __future__ import annotations

import pytest

from customer_health.evaluation.backtest import verdict

OUTCOME = "churn within 90 days"
GOOD_AUC = {"estimate": 0.74, "lower": 0.71, "upper": 0.77}
GOOD_LIFT = {"lift": 2.4}
RISING = {"monotonic": True, "violations": []}


def test_a_score_passing_all_three_rules_predicts_churn() -> None:
    text = verdict(GOOD_AUC, GOOD_LIFT, RISING, OUTCOME)
    assert text.startswith("The score predicts churn within 90 days: the riskiest 10 % of "
                           "accounts churned at 2.4x the overall rate")
    assert "good discrimination" in text and "AUC 0.74, 95 % CI 0.71-0.77" in text


@pytest.mark.parametrize(
    ("auc", "lift", "grades", "reason"),
    [
        # a good AUC, but the riskiest tenth churned no more than the rest
        (GOOD_AUC, {"lift": 1.0}, RISING, "the accounts it marks riskiest did not churn more"),
        (GOOD_AUC, {"lift": None}, RISING, "the accounts it marks riskiest did not churn more"),
        # a good AUC and lift, but churn falls from grade B to C
        (GOOD_AUC, GOOD_LIFT,
         {"monotonic": False, "violations": [{"from": "B", "to": "C", "significant": False}]},
         "churn does not rise with every worse grade (it falls from B to C)"),
        # an interval that includes 0.5: no better than chance
        ({"estimate": 0.53, "lower": 0.49, "upper": 0.57}, GOOD_LIFT, RISING,
         "more often than chance would"),
        # an interval below 0.5: inverted
        ({"estimate": 0.40, "lower": 0.36, "upper": 0.44}, GOOD_LIFT, RISING,
         "as healthier than those that stayed"),
    ],
)
def test_a_score_failing_any_rule_is_not_said_to_predict(
    auc: dict, lift: dict, grades: dict, reason: str
) -> None:
    text = verdict(auc, lift, grades, OUTCOME)
    assert "predicts" not in text
    assert text.startswith("Do not prioritise outreach with this score yet. Against churn "
                           "within 90 days: ")
    assert reason in text
    assert "health calibrate" in text


def test_every_failing_rule_is_named() -> None:
    text = verdict({"estimate": 0.49, "lower": 0.46, "upper": 0.52}, {"lift": 0.9},
                   {"monotonic": False, "violations": [{"from": "A", "to": "B"}]}, OUTCOME)
    assert text.count("; ") >= 2
    assert "In statistics terms: AUC 0.49, 95 % CI 0.46-0.52" in text
