"""The error-budget policy's verdict per service, from the report's own figures. Pure.

The rules are the SRE Workbook's example policy, with the thresholds the catalog's `policy:` sets: an
exhausted budget freezes releases, one costly incident demands a postmortem, and the same SLO breaking
again and again within a quarter is escalated to the team's quarterly planning.
"""

from __future__ import annotations

from typing import Any

from zarish_obs.catalog import Policy

# Most severe first: the service's verdict is the first rule that applies.
RULES = ("release_freeze", "escalate", "postmortem")
OK = "ok"


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _span(incident: dict[str, Any] | None) -> dict[str, str] | None:
    return None if incident is None else {"start": incident["start"], "end": incident["end"]}


def _costliest(incidents: list[dict[str, Any]], slo: str) -> dict[str, Any] | None:
    own = [i for i in incidents if i["slo"] == slo]
    return max(own, key=lambda i: i["budget_consumed"]) if own else None


def evaluate(policy: Policy, slos: list[dict[str, Any]], incidents: list[dict[str, Any]],
             quarter_incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """`{"verdict", "reasons"}` for one service: every rule that applies, each with its reason and the
    incident behind it; the verdict is the most severe of them, `ok` when none applies."""
    reasons: list[dict[str, Any]] = []
    if policy.release_freeze:
        for slo in slos:
            spent = slo.get("window_budget_consumed")
            if spent is not None and spent >= 1:
                reasons.append({
                    "rule": "release_freeze", "slo": slo["slo"],
                    "reason": f"{slo['slo']}: {_pct(spent)} of the error budget over the {slo['window']} SLO window "
                              "is spent; freeze releases except P0 and security fixes until the service is back "
                              "within its SLO",
                    "incident": _span(_costliest(incidents, slo["slo"])),
                })
    by_slo: dict[str, list[dict[str, Any]]] = {}
    for incident in quarter_incidents:
        by_slo.setdefault(incident["slo"], []).append(incident)
    for slo_name, own in sorted(by_slo.items()):
        if len(own) >= policy.escalate_after:
            latest = max(own, key=lambda i: i["start"])
            reasons.append({
                "rule": "escalate", "slo": slo_name,
                "reason": f"{slo_name}: {len(own)} incidents this quarter (policy: escalate at "
                          f"{policy.escalate_after}); put the recurring cause on the quarterly plan",
                "incident": _span(latest),
            })
    limit = policy.postmortem_budget_percent / 100
    for incident in sorted(incidents, key=lambda i: i["start"]):
        if incident["budget_consumed"] > limit:
            reasons.append({
                "rule": "postmortem", "slo": incident["slo"],
                "reason": f"{incident['slo']}: one incident consumed {_pct(incident['budget_consumed'])} of the "
                          f"period's error budget (policy: postmortem above {_pct(limit)})",
                "incident": _span(incident),
            })
    verdict = next((rule for rule in RULES if any(r["rule"] == rule for r in reasons)), OK)
    reasons.sort(key=lambda r: RULES.index(r["rule"]))
    return {"verdict": verdict, "reasons": reasons}
