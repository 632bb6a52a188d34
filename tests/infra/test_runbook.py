"""Every alarm has a severity (page or ticket), goes to that severity's topic, and has an entry
in infra/README.md's runbook."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra import cfn

README = cfn.REPO / "infra" / "README.md"
TOPICS = {"page": "PageTopicArn", "ticket": "TicketTopicArn"}
DESCRIPTION_RE = re.compile(r'Severity (page|ticket)\. Runbook: infra/README\.md, "([a-z0-9-]+)"\.')


def alarms() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (stem, name, resource["Properties"])
        for stem in cfn.template_stems()
        for name, resource in cfn.load(stem).get("Resources", {}).items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]


def runbook_entries() -> set[str]:
    text = README.read_text()
    section = text[text.index("## Alarms and runbook") : text.index("## Recovery")]
    return set(re.findall(r"^#### ([a-z0-9-]+)$", section, re.MULTILINE))


def test_there_are_alarms_of_both_severities() -> None:
    severities = {DESCRIPTION_RE.search(p["AlarmDescription"]).group(1) for _, _, p in alarms()}  # type: ignore[union-attr]
    assert severities == {"page", "ticket"}


@pytest.mark.parametrize(
    ("stem", "name", "props"), alarms(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_alarm_names_its_severity_and_runbook_entry_and_uses_that_topic(
    stem: str, name: str, props: dict[str, Any]
) -> None:
    match = DESCRIPTION_RE.search(props["AlarmDescription"])
    assert match, f"{stem}.yaml {name}: description lacks 'Severity …. Runbook: …'"
    severity, entry = match.groups()
    assert entry in runbook_entries(), f"no '#### {entry}' in infra/README.md"
    expected = [{"Ref": TOPICS[severity]}]
    assert props["AlarmActions"] == expected and props["OKActions"] == expected
    topic = cfn.trace(stem, {"Ref": TOPICS[severity]})
    assert topic.name == ("PageTopic" if severity == "page" else "TicketTopic")


def test_every_runbook_entry_belongs_to_an_alarm() -> None:
    used = {DESCRIPTION_RE.search(p["AlarmDescription"]).group(2) for _, _, p in alarms()}  # type: ignore[union-attr]
    assert runbook_entries() == used


def test_both_topics_have_a_required_email_in_each_environment() -> None:
    security = cfn.load("security")
    for name in ("PageEmail", "TicketEmail"):
        assert "Default" not in security["Parameters"][name]
        (subscription,) = [
            r["Properties"]
            for r in security["Resources"].values()
            if r["Type"] == "AWS::SNS::Subscription"
            and r["Properties"]["Endpoint"] == {"Ref": name}
        ]
        assert "Condition" not in subscription
