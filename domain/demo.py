"""The golden scenario: The Astana Times' report of the 2021 ESPD meeting, as commands.

Ids are uuid5 names under one namespace, so loading the demo twice yields the same record
and the API's tests can name any entity. Only what the article says is recorded; where the
article is silent (a full first name, a URL, a publication date) the field stays empty.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from domain import commands as c
from domain.facts import (
    Charter,
    Indicator,
    Milestone,
    OutcomeKind,
    OutcomeTerms,
    SessionPlan,
    SessionRecord,
    VisitPlan,
)
from domain.values import Link, OutcomeRef, PartialDate, Person, Place, Source, Statement

DEMO_NAMESPACE = uuid.UUID("6f1c2d4e-8a3b-5c7d-9e0f-1a2b3c4d5e6f")


def demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, name)


ESPD_ID = demo_id("dialogue/espd")
ESPD_2021_SESSION_ID = demo_id("session/espd/2021")
ESPD_2022_SESSION_ID = demo_id("session/espd/2022")
HLDDR_ID = demo_id("dialogue/high-level-dialogue-on-democratic-reforms")
HLDDR_INAUGURAL_SESSION_ID = demo_id("session/hlddr/inaugural")
TILEUBERDI_VISIT_ID = demo_id("visit/tileuberdi/washington/2022")
RELATIONSHIP_PARTIES = ("KZ", "US")
RELATIONSHIP_STREAM = "relationship-KZ-US"

OUTCOME_HLDDR_PREPARATIONS = demo_id("outcome/espd/2021/hlddr-preparations")
OUTCOME_NEXT_ESPD_MEETING = demo_id("outcome/espd/2021/next-meeting")
OUTCOME_TILEUBERDI_VISIT = demo_id("outcome/espd/2021/tileuberdi-visit")
OUTCOME_US_COMPANIES = demo_id("outcome/espd/2021/us-companies-trade-investment")
OUTCOME_AFGHAN_SUPPORT = demo_id("outcome/espd/2021/afghan-humanitarian-support")
OUTCOME_REGIONAL_ENGAGEMENT = demo_id("outcome/espd/2021/c5-1-tifa-engagement")
OUTCOME_SECURITY_COOPERATION = demo_id("outcome/espd/2021/security-cooperation")
OUTCOME_GREEN_TECHNOLOGY = demo_id("outcome/espd/2021/green-technology")
OUTCOME_PEOPLE_TO_PEOPLE = demo_id("outcome/espd/2021/people-to-people")
OUTCOME_WOMENS_REPRESENTATION = demo_id("outcome/espd/2021/womens-representation")
OUTCOME_JUSAN_COMMENDATION = demo_id("outcome/espd/2021/jusan-commendation")

INDICATOR_TRADE_2019 = demo_id("indicator/kz-us/bilateral-trade/2019")
INDICATOR_TRADING_PARTNER_RANK = demo_id("indicator/kz-us/trading-partner-rank")
INDICATOR_US_INVESTMENT = demo_id("indicator/kz-us/us-investment")
INDICATOR_JUSAN_CITIZENS = demo_id("indicator/kz/jusan/citizens")
INDICATOR_JUSAN_CHILDREN = demo_id("indicator/kz/jusan/children")
INDICATOR_CARBON_NEUTRALITY = demo_id("indicator/kz/carbon-neutrality-2060")
INDICATOR_RENEWABLES_SHARE = demo_id("indicator/kz/renewables-2030")
MILESTONE_RECOGNITION = demo_id("milestone/kz-us/recognition")
MILESTONE_30TH_ANNIVERSARY = demo_id("milestone/kz-us/diplomatic-relations-30th-anniversary")

ARTICLE = Source(
    title=(
        "Kazakhstan, US Strengthen Enhanced Strategic Partnership Dialogue, "
        "Celebrate 30 Years of Diplomatic Relations"
    ),
    publisher="The Astana Times",
    reporting="Ministry of Foreign Affairs of the Republic of Kazakhstan",
)

RAKHMETULLIN = Person(
    name="Akan Rakhmetullin",
    title="Deputy Minister of Foreign Affairs",
    organization="Ministry of Foreign Affairs of the Republic of Kazakhstan",
    party="KZ",
)
LU = Person(
    name="Donald Lu",
    title="Assistant Secretary",
    organization="U.S. Department of State, Bureau of South and Central Asian Affairs",
    party="US",
)
TOREBAYEV = Person(
    name="Kairat Torebayev",
    title="Vice Minister of Trade and Integration",
    organization="Ministry of Trade and Integration of the Republic of Kazakhstan",
    party="KZ",
)
AKHTER = Person(
    name="Afreen Akhter",
    title="Senior Advisor for South and Central Asia",
    organization="U.S. Department of State",
    party="US",
)
TILEUBERDI = Person(
    name="Tileuberdi",
    title="Deputy Prime Minister – Foreign Minister",  # noqa: RUF001 (as the article writes it)
    organization="Government of the Republic of Kazakhstan",
    party="KZ",
)

NUR_SULTAN = Place(city="Nur-Sultan", country="KZ")
WASHINGTON = Place(city="Washington, D.C.", country="US")
SESSION_DAY = PartialDate.on(dt.date(2021, 12, 15), wording="Dec. 15")
BOTH = ("KZ", "US")

TOPICS = (
    "bilateral and regional political issues",
    "bilateral and regional economic issues",
    "bilateral and regional security issues",
    "political reforms",
    "counterterrorism",
    "border security",
    "peacekeeping",
    "non-proliferation",
    "climate change",
    "regional security",
    "repatriation of foreign fighters and their families",
    "humanitarian support to the Afghan people",
    "regional engagement through the C5+1 and TIFA",
    "trade and investment",
    "permanent normal trade relations",
    "science and technology cooperation",
    "English language and educational exchanges",
    "women's political, social and economic empowerment",
    "regional prosperity and connectivity",
    "security cooperation",
    "energy-efficient and green technologies",
    "climate adaptation, mitigation and green economy development",
    "academic and research exchanges",
    "women's representation in decision-making",
)


def _said(by: tuple[str, ...], text: str) -> Statement:
    return Statement(by=by, text=text)


STATEMENTS = (
    _said(BOTH, "Congratulated each other on the 30th anniversary of diplomatic relations."),
    _said(("US",), "Welcomed the political reforms initiated by President Kassym-Jomart Tokayev."),
    _said(
        ("US",),
        "Thanked Kazakhstan for its strong partnership in addressing common challenges such as "
        "counterterrorism, border security, peacekeeping, non-proliferation, climate change, "
        "and regional security.",
    ),
    _said(
        ("US",),
        "Commended Kazakhstan's efforts to repatriate foreign fighters and their families as "
        "part of the Jusan operation.",
    ),
    _said(BOTH, "Expressed commitment to continue humanitarian support to the Afghan people."),
    _said(
        ("US",),
        "Expressed appreciation for the temporary relocation of USAID personnel from Kabul to "
        "Almaty.",
    ),
    _said(
        ("US",), "Noted Kazakhstan's initiative to establish a regional humanitarian hub in Almaty."
    ),
    _said(
        BOTH,
        "Spoke in favor of further intensifying regional engagement through the C5+1 and the "
        "Trade and Investment Framework Agreement (TIFA).",
    ),
    _said(
        BOTH,
        "Discussed the possibility of establishing permanent normal trade relations between "
        "Kazakhstan and the US.",
    ),
    _said(
        ("KZ",),
        "Pledged, along with other Central Asian nations, to achieve carbon neutrality by 2060 "
        "and reach a 15 percent share of renewables by 2030.",
    ),
    _said(BOTH, "Affirmed their shared interest in strengthening people-to-people ties."),
)

SUMMARY = (
    "Annual meeting of the Kazakhstan-U.S. Enhanced Strategic Partnership Dialogue on the 30th "
    "anniversary of Kazakhstan's independence and of diplomatic relations; the delegations "
    "discussed key bilateral and regional political, economic and security issues."
)


def _outcome(
    outcome_id: uuid.UUID, kind: OutcomeKind, text: str, **terms: object
) -> c.AdoptOutcome:
    return c.AdoptOutcome(
        dialogue_id=ESPD_ID,
        session_id=ESPD_2021_SESSION_ID,
        outcome_id=outcome_id,
        terms=OutcomeTerms(kind=kind, text=text, responsible=BOTH, **terms),  # type: ignore[arg-type]
    )


def _outcomes() -> list[c.Command]:
    return [
        _outcome(
            OUTCOME_HLDDR_PREPARATIONS,
            "agreement",
            "Start practical preparations for the inaugural meeting of a High-Level Dialogue on "
            "Democratic Reforms in early 2022.",
            target=PartialDate.parse("early 2022"),
            leads_to=(
                Link(kind="dialogue", target_id=HLDDR_ID),
                Link(kind="session", target_id=HLDDR_INAUGURAL_SESSION_ID),
            ),
        ),
        _outcome(
            OUTCOME_NEXT_ESPD_MEETING,
            "commitment",
            "Hold the next meeting of the ESPD in 2022 in Washington, D.C.",
            target=PartialDate.parse("2022"),
            leads_to=(Link(kind="session", target_id=ESPD_2022_SESSION_ID),),
        ),
        _outcome(
            OUTCOME_TILEUBERDI_VISIT,
            "decision",
            "Discussed a visit by Kazakhstan Deputy Prime Minister – Foreign Minister Tileuberdi "  # noqa: RUF001
            "to Washington in the first half of 2022.",
            target=PartialDate.parse("first half of 2022"),
            leads_to=(Link(kind="visit", target_id=TILEUBERDI_VISIT_ID),),
        ),
        _outcome(
            OUTCOME_US_COMPANIES,
            "agreement",
            "Expand opportunities for U.S. companies in trade and investment in Kazakhstan.",
        ),
        _outcome(
            OUTCOME_AFGHAN_SUPPORT,
            "commitment",
            "Continue humanitarian support to the Afghan people.",
        ),
        _outcome(
            OUTCOME_REGIONAL_ENGAGEMENT,
            "joint statement",
            "Further intensify regional engagement through the C5+1 and the Trade and "
            "Investment Framework Agreement (TIFA).",
            frameworks=("C5+1", "Trade and Investment Framework Agreement (TIFA)"),
        ),
        _outcome(
            OUTCOME_SECURITY_COOPERATION,
            "joint statement",
            "Strengthen security cooperation by deepening ties between militaries, law "
            "enforcement agencies, and border and customs authorities.",
            frameworks=(
                "Fourth Five-Year Plan for Military Cooperation between the Ministry of Defense "
                "of Kazakhstan and the United States Department of Defense",
            ),
        ),
        _outcome(
            OUTCOME_GREEN_TECHNOLOGY,
            "agreement",
            "Forge cooperation in energy-efficient and green technologies, and cooperate in "
            "climate adaptation, mitigation, and green economy development under the C5+1.",
            frameworks=("C5+1",),
        ),
        _outcome(
            OUTCOME_PEOPLE_TO_PEOPLE,
            "joint statement",
            "Strengthen people-to-people ties through academic and research exchanges.",
        ),
        _outcome(
            OUTCOME_WOMENS_REPRESENTATION,
            "commitment",
            "Continue to support efforts to increase women's representation in decision-making "
            "processes.",
        ),
        c.AdoptOutcome(
            dialogue_id=ESPD_ID,
            session_id=ESPD_2021_SESSION_ID,
            outcome_id=OUTCOME_JUSAN_COMMENDATION,
            terms=OutcomeTerms(
                kind="commendation",
                text="The US commended Kazakhstan's efforts to repatriate foreign fighters and "
                "their families as part of the Jusan operation.",
                responsible=("US",),
            ),
        ),
    ]


def _indicator(indicator_id: uuid.UUID, indicator: Indicator) -> c.RecordIndicator:
    return c.RecordIndicator(
        parties=RELATIONSHIP_PARTIES, indicator_id=indicator_id, indicator=indicator
    )


def _relationship_facts() -> list[c.Command]:
    year = PartialDate.parse
    return [
        c.RecordMilestone(
            parties=RELATIONSHIP_PARTIES,
            milestone_id=MILESTONE_RECOGNITION,
            milestone=Milestone(
                kind="recognition",
                on=PartialDate.parse("Dec. 25, 1991"),
                description="Following the dissolution of the Soviet Union, the US was the first "
                "country to recognize Kazakhstan's independence.",
                source=ARTICLE,
            ),
        ),
        c.RecordMilestone(
            parties=RELATIONSHIP_PARTIES,
            milestone_id=MILESTONE_30TH_ANNIVERSARY,
            milestone=Milestone(
                kind="anniversary",
                on=SESSION_DAY,
                description="30th anniversary of the establishment of diplomatic relations, "
                "celebrated at the ESPD annual meeting.",
                source=ARTICLE,
            ),
        ),
        _indicator(
            INDICATOR_TRADE_2019,
            Indicator(
                name="bilateral trade",
                period=year("2019"),
                value=Decimal("2000000000"),
                unit="USD",
                source=ARTICLE,
            ),
        ),
        _indicator(
            INDICATOR_TRADING_PARTNER_RANK,
            Indicator(
                name="rank among trading partners of the US",
                period=year("2019"),
                value=Decimal(81),
                unit="rank",
                kind="rank",
                subject="KZ",
                source=ARTICLE,
            ),
        ),
        _indicator(
            INDICATOR_US_INVESTMENT,
            Indicator(
                name="U.S. firms' investment in Kazakhstan",
                period=year("2021"),
                value=Decimal("10000000000"),
                unit="USD",
                approximation="more than",
                subject="US",
                note="tens of billions of dollars, concentrated in the oil and gas sector",
                source=ARTICLE,
            ),
        ),
        _indicator(
            INDICATOR_JUSAN_CITIZENS,
            Indicator(
                name="Kazakh citizens repatriated by operation Jusan",
                period=year("2021"),
                value=Decimal(600),
                unit="people",
                approximation="nearly",
                subject="KZ",
                note="returned in several stages; cumulative as reported on Dec. 15, 2021",
                source=ARTICLE,
            ),
        ),
        _indicator(
            INDICATOR_JUSAN_CHILDREN,
            Indicator(
                name="children among the citizens repatriated by operation Jusan",
                period=year("2021"),
                value=Decimal(406),
                unit="children",
                subject="KZ",
                note="cumulative as reported on Dec. 15, 2021",
                source=ARTICLE,
            ),
        ),
        _indicator(
            INDICATOR_CARBON_NEUTRALITY,
            Indicator(
                name="carbon neutrality pledge",
                period=year("2060"),
                value=Decimal(0),
                unit="net greenhouse gas emissions",
                kind="target",
                subject="KZ",
                note="Kazakhstan pledged to achieve carbon neutrality by 2060",
                source=ARTICLE,
            ),
        ),
        _indicator(
            INDICATOR_RENEWABLES_SHARE,
            Indicator(
                name="share of renewables",
                period=year("2030"),
                value=Decimal(15),
                unit="percent",
                kind="target",
                subject="KZ",
                note="Kazakhstan pledged to reach a 15 percent share of renewables by 2030",
                source=ARTICLE,
            ),
        ),
    ]


def _espd() -> list[c.Command]:
    charter = Charter(
        name="Enhanced Strategic Partnership Dialogue",
        acronym="ESPD",
        format="bilateral",
        parties=BOTH,
        cadence="annual",
    )
    record = SessionRecord(
        held_on=SESSION_DAY,
        place=NUR_SULTAN,
        heads=(RAKHMETULLIN, LU),
        members=(TOREBAYEV, AKHTER),
        topics=TOPICS,
        statements=STATEMENTS,
        summary=SUMMARY,
        sources=(ARTICLE,),
    )
    return [
        c.LaunchDialogue(dialogue_id=ESPD_ID, charter=charter),
        c.AppointLead(dialogue_id=ESPD_ID, lead=RAKHMETULLIN),
        c.AppointLead(dialogue_id=ESPD_ID, lead=LU),
        c.HoldSession(dialogue_id=ESPD_ID, session_id=ESPD_2021_SESSION_ID, record=record),
    ]


def _follow_ups() -> list[c.Command]:
    return [
        c.ScheduleSession(
            dialogue_id=ESPD_ID,
            session_id=ESPD_2022_SESSION_ID,
            plan=SessionPlan(planned=PartialDate.parse("2022"), place=WASHINGTON, host="US"),
        ),
        c.LaunchDialogue(
            dialogue_id=HLDDR_ID,
            charter=Charter(
                name="High-Level Dialogue on Democratic Reforms",
                format="bilateral",
                parties=BOTH,
                launched_by=OutcomeRef(dialogue_id=ESPD_ID, outcome_id=OUTCOME_HLDDR_PREPARATIONS),
            ),
        ),
        c.ScheduleSession(
            dialogue_id=HLDDR_ID,
            session_id=HLDDR_INAUGURAL_SESSION_ID,
            plan=SessionPlan(planned=PartialDate.parse("early 2022")),
        ),
        c.PlanVisit(
            visit_id=TILEUBERDI_VISIT_ID,
            plan=VisitPlan(
                visitor=TILEUBERDI,
                host="US",
                destination=WASHINGTON,
                window=PartialDate.parse("first half of 2022"),
                purpose="Visit discussed at the 2021 ESPD annual meeting",
                outcome=OutcomeRef(dialogue_id=ESPD_ID, outcome_id=OUTCOME_TILEUBERDI_VISIT),
            ),
        ),
    ]


def golden_scenario() -> list[c.Command]:
    """The article, in the order a clerk would enter it."""
    return [*_espd(), *_outcomes(), *_follow_ups(), *_relationship_facts()]
