"""The article, folded: the register says exactly what The Astana Times reported."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from domain import demo, dialogue, relationship, visit
from domain.events import valid_time
from domain.streams import replay


@pytest.fixture(scope="module")
def streams():
    return replay(demo.golden_scenario())


@pytest.fixture(scope="module")
def espd(streams):
    return dialogue.fold(streams[f"dialogue-{demo.ESPD_ID}"])


@pytest.fixture(scope="module")
def kz_us(streams):
    return relationship.fold(streams[demo.RELATIONSHIP_STREAM])


def test_scenario_is_reproducible():
    assert demo.golden_scenario() == demo.golden_scenario()
    assert replay(demo.golden_scenario()) == replay(demo.golden_scenario())


def test_the_espd_and_its_leads(espd):
    assert espd.charter.name == "Enhanced Strategic Partnership Dialogue"
    assert (espd.charter.acronym, espd.charter.format, espd.charter.cadence) == (
        "ESPD",
        "bilateral",
        "annual",
    )
    assert espd.parties == ("KZ", "US") and espd.status == "active"
    kz, us = espd.leads["KZ"], espd.leads["US"]
    assert (kz.name, kz.title) == ("Akan Rakhmetullin", "Deputy Minister of Foreign Affairs")
    assert "Ministry of Foreign Affairs" in kz.organization
    assert (us.name, us.title) == ("Donald Lu", "Assistant Secretary")
    assert us.organization == "U.S. Department of State, Bureau of South and Central Asian Affairs"


def test_the_session_of_15_december_2021(espd):
    session = espd.sessions[demo.ESPD_2021_SESSION_ID]
    held = session.record
    assert session.status == "held"
    assert (held.held_on.start, held.held_on.precision) == (dt.date(2021, 12, 15), "day")
    assert (held.place.city, held.place.country) == ("Nur-Sultan", "KZ")
    assert [h.name for h in held.heads] == ["Akan Rakhmetullin", "Donald Lu"]
    members = {(m.name, m.title, m.party) for m in held.members}
    assert members == {
        ("Kairat Torebayev", "Vice Minister of Trade and Integration", "KZ"),
        ("Afreen Akhter", "Senior Advisor for South and Central Asia", "US"),
    }
    for topic in (
        "counterterrorism",
        "climate change",
        "trade and investment",
        "permanent normal trade relations",
        "academic and research exchanges",
    ):
        assert topic in held.topics
    said = {s.text: s.by for s in held.statements}
    assert said["Welcomed the political reforms initiated by President Kassym-Jomart Tokayev."] == (
        "US",
    )
    assert any("USAID personnel from Kabul to Almaty" in t for t in said)
    assert any(s.joint and "30th anniversary" in s.text for s in held.statements)
    assert held.sources[0].publisher == "The Astana Times"
    assert held.sources[0].reporting == "Ministry of Foreign Affairs of the Republic of Kazakhstan"


def test_the_outcomes(espd):
    outcomes = espd.outcomes
    assert len(outcomes) == 11
    assert all(o.adopted_on.start == dt.date(2021, 12, 15) for o in outcomes.values())
    hlddr = outcomes[demo.OUTCOME_HLDDR_PREPARATIONS].terms
    assert "High-Level Dialogue on Democratic Reforms" in hlddr.text
    assert (hlddr.target.wording, hlddr.target.to_edtf()) == ("early 2022", "2022-37~")
    assert {link.target_id for link in hlddr.leads_to} == {
        demo.HLDDR_ID,
        demo.HLDDR_INAUGURAL_SESSION_ID,
    }
    nxt = outcomes[demo.OUTCOME_NEXT_ESPD_MEETING].terms
    assert "Washington, D.C." in nxt.text and nxt.target.to_edtf() == "2022"
    trip = outcomes[demo.OUTCOME_TILEUBERDI_VISIT].terms
    assert trip.target.wording == "first half of 2022" and trip.target.to_edtf() == "2022-40"
    kinds = {o.terms.kind for o in outcomes.values()}
    assert kinds == {"agreement", "commitment", "decision", "joint statement", "commendation"}
    frameworks = {f for o in outcomes.values() for f in o.terms.frameworks}
    assert "C5+1" in frameworks and "Trade and Investment Framework Agreement (TIFA)" in frameworks
    assert any("Fourth Five-Year Plan for Military Cooperation" in f for f in frameworks)


def test_what_the_outcomes_lead_to(streams, espd):
    nxt = espd.sessions[demo.ESPD_2022_SESSION_ID]
    assert (nxt.status, nxt.plan.planned.to_edtf(), nxt.plan.place.city, nxt.plan.host) == (
        "scheduled",
        "2022",
        "Washington, D.C.",
        "US",
    )
    hlddr: Any = dialogue.fold(streams[f"dialogue-{demo.HLDDR_ID}"])
    assert hlddr.charter.name == "High-Level Dialogue on Democratic Reforms"
    assert hlddr.charter.launched_by.outcome_id == demo.OUTCOME_HLDDR_PREPARATIONS
    inaugural = hlddr.sessions[demo.HLDDR_INAUGURAL_SESSION_ID].plan.planned
    assert (inaugural.start, inaugural.end) == (dt.date(2022, 1, 1), dt.date(2022, 5, 1))
    trip: Any = visit.fold(streams[f"visit-{demo.TILEUBERDI_VISIT_ID}"])
    assert trip.status == "planned"
    assert trip.plan.visitor.name == "Tileuberdi"
    assert trip.plan.visitor.title == "Deputy Prime Minister – Foreign Minister"  # noqa: RUF001
    assert (trip.plan.host, trip.plan.destination.city) == ("US", "Washington, D.C.")
    assert valid_time(streams[f"visit-{demo.TILEUBERDI_VISIT_ID}"][0]) == (
        dt.date(2022, 1, 1),
        dt.date(2022, 7, 1),
    )


def test_the_indicators(kz_us):
    ind = kz_us.indicators
    trade = ind[demo.INDICATOR_TRADE_2019]
    assert (trade.value, trade.unit, trade.period.to_edtf()) == (
        Decimal("2000000000"),
        "USD",
        "2019",
    )
    assert ind[demo.INDICATOR_TRADING_PARTNER_RANK].value == 81
    citizens = ind[demo.INDICATOR_JUSAN_CITIZENS]
    assert (citizens.value, citizens.approximation) == (600, "nearly")
    assert ind[demo.INDICATOR_JUSAN_CHILDREN].value == 406
    carbon = ind[demo.INDICATOR_CARBON_NEUTRALITY]
    assert (carbon.kind, carbon.period.to_edtf()) == ("target", "2060")
    renewables = ind[demo.INDICATOR_RENEWABLES_SHARE]
    assert (renewables.value, renewables.unit, renewables.period.to_edtf()) == (
        15,
        "percent",
        "2030",
    )


def test_the_milestones(kz_us):
    recognition = kz_us.milestones[demo.MILESTONE_RECOGNITION]
    assert (recognition.kind, recognition.on.start) == ("recognition", dt.date(1991, 12, 25))
    anniversary = kz_us.milestones[demo.MILESTONE_30TH_ANNIVERSARY]
    assert anniversary.kind == "anniversary" and "30th anniversary" in anniversary.description
    assert kz_us.parties == ("KZ", "US")


def test_session_valid_time_is_its_day(streams):
    held = streams[f"dialogue-{demo.ESPD_ID}"][3]
    assert valid_time(held) == (dt.date(2021, 12, 15), dt.date(2021, 12, 16))
