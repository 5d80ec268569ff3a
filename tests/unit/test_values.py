"""The value types of the register (parties, partial dates, people, places) keep their rules."""

import datetime as dt
from decimal import Decimal
from functools import reduce

import msgspec
import pytest

from domain import events as e
from domain.dialogue import Dialogue, decide, evolve
from domain.errors import InvalidPartialDate, InvalidValue, MissingReason, UnknownParty
from domain.facts import Indicator
from domain.values import (
    PartialDate,
    Person,
    Place,
    check_figure,
    check_name,
    check_reason,
    pair_of,
    party_code,
)
from tests.unit import builders as b

d = dt.date


@pytest.mark.parametrize(
    ("text", "start", "end", "precision", "edtf"),
    [
        ("early 2022", d(2022, 1, 1), d(2022, 5, 1), "approximate", "2022-37~"),
        ("first half of 2022", d(2022, 1, 1), d(2022, 7, 1), "half", "2022-40"),
        ("second half of 2022", d(2022, 7, 1), d(2023, 1, 1), "half", "2022-41"),
        ("2022", d(2022, 1, 1), d(2023, 1, 1), "year", "2022"),
        ("in 2022", d(2022, 1, 1), d(2023, 1, 1), "year", "2022"),
        ("Dec. 15, 2021", d(2021, 12, 15), d(2021, 12, 16), "day", "2021-12-15"),
        ("15 December 2021", d(2021, 12, 15), d(2021, 12, 16), "day", "2021-12-15"),
        ("2021-12-15", d(2021, 12, 15), d(2021, 12, 16), "day", "2021-12-15"),
        ("December 2021", d(2021, 12, 1), d(2022, 1, 1), "month", "2021-12"),
        ("2022-01~", d(2022, 1, 1), d(2022, 2, 1), "approximate", "2022-01~"),
        ("2022-21", d(2022, 3, 1), d(2022, 6, 1), "season", "2022-21"),
        ("2022-24", d(2022, 12, 1), d(2023, 3, 1), "season", "2022-24"),
        ("2022-33", d(2022, 1, 1), d(2022, 4, 1), "quarter", "2022-33"),
        ("Q4 2022", d(2022, 10, 1), d(2023, 1, 1), "quarter", "2022-36"),
        ("2022-38", d(2022, 5, 1), d(2022, 9, 1), "quadrimester", "2022-38"),
        ("late 2022", d(2022, 9, 1), d(2023, 1, 1), "approximate", "2022-39~"),
        ("2022-40", d(2022, 1, 1), d(2022, 7, 1), "half", "2022-40"),
        ("2022-01-10/2022-01-12", d(2022, 1, 10), d(2022, 1, 13), "day", "2022-01-10/2022-01-12"),
    ],
)
def test_partial_date_reads_wording_and_edtf(text, start, end, precision, edtf):
    parsed = PartialDate.parse(text)
    assert (parsed.start, parsed.end, parsed.precision) == (start, end, precision)
    assert parsed.wording == text
    assert parsed.to_edtf() == edtf
    again = PartialDate.parse(edtf)
    assert (again.start, again.end, again.precision) == (start, end, precision)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("sometime soon", "not a date this register understands"),
        ("2021-02-30", "day is out of range for month"),
        ("2022-42", "sub-year grouping 42 is not supported"),
        ("2022-13", "sub-year grouping 13 is not supported"),
    ],
)
def test_partial_date_refuses_nonsense(text, why):
    with pytest.raises(InvalidPartialDate, match=f"Invalid partial date '{text}': {why}"):
        PartialDate.parse(text)


def test_partial_date_interval_must_run_forward():
    with pytest.raises(InvalidPartialDate, match="its start must precede its end"):
        PartialDate(start=d(2022, 2, 1), end=d(2022, 1, 1), precision="month")


def test_partial_date_is_a_msgspec_struct_and_round_trips():
    value = PartialDate.parse("first half of 2022")
    raw = msgspec.json.encode(value)
    assert msgspec.json.decode(raw, type=PartialDate) == value
    assert str(value) == "first half of 2022"


def test_partial_date_decoding_reports_the_broken_rule():
    raw = b'{"start":"2022-02-01","end":"2022-01-01","precision":"month"}'
    with pytest.raises(msgspec.ValidationError, match="its start must precede its end"):
        msgspec.json.decode(raw, type=PartialDate)


def test_party_codes_come_from_iso_3166():
    assert party_code("KZ") == "KZ"
    with pytest.raises(UnknownParty, match="Unknown party 'XX': expected an ISO 3166-1 alpha-2"):
        party_code("XX")
    with pytest.raises(UnknownParty):
        Person(name="N", title="T", organization="O", party="XX")
    with pytest.raises(UnknownParty):
        Place(city="Atlantis", country="AT1")


def test_a_relationship_pair_has_no_direction():
    assert pair_of("US", "KZ") == pair_of("KZ", "US") == ("KZ", "US")


def test_party_code_shape_is_checked_on_decode():
    raw = b'{"city":"Almaty","country":"kz"}'
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=Place)


def test_missing_reason_message():
    assert str(MissingReason("Cancel session")) == "Cancel session needs a non-empty reason"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1E+999999", "1E-20000", "1E+30"])
def test_a_figure_must_be_finite_and_of_sensible_size(text):
    with pytest.raises(InvalidValue, match="not a figure"):
        check_figure(Decimal(text))


@pytest.mark.parametrize("text", ["2000000000", "0.5", "-3", "406", "0.000000000001"])
def test_ordinary_figures_pass(text):
    check_figure(Decimal(text))


def test_an_indicator_with_an_unstorable_value_is_refused_on_decode():
    fine = Indicator(name="trade", period=PartialDate.parse("2019"), value=Decimal(2), unit="USD")
    raw = {**msgspec.to_builtins(fine), "value": "1E+999999"}
    with pytest.raises(msgspec.ValidationError, match="not a figure"):
        msgspec.convert(raw, type=Indicator)


@pytest.mark.parametrize(
    ("start", "end", "precision"),
    [
        ("2022-01-15", "2022-02-15", "month"),  # a month begins on the first
        ("2022-02-01", "2022-05-01", "quarter"),  # quarters begin in Jan, Apr, Jul, Oct
        ("2022-03-01", "2022-09-01", "half"),
        ("2022-07-01", "2023-07-01", "year"),
        ("2022-01-01", "2022-04-01", "season"),  # seasons begin in Mar, Jun, Sep, Dec
        ("2022-02-01", "2022-06-01", "quadrimester"),
    ],
)
def test_a_precision_its_ends_could_not_have_is_refused(start, end, precision):
    date = PartialDate(
        start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end), precision=precision
    )
    with pytest.raises(InvalidPartialDate, match=precision):
        date.check_precision()


@pytest.mark.parametrize(
    "wording",
    [
        "2022",
        "first half of 2022",
        "Dec. 15, 2021",
        "early 2022",
        "2022-37",
        "spring 2022",
        "January 2022",
        "2022-33",
        "late 2021",
        "2021-12-15/2022-01-20",
        "2022-01/2022-03",
    ],
)
def test_every_wording_the_register_reads_has_a_precision_its_ends_fit(wording):
    PartialDate.parse(wording).check_precision()


def test_a_command_carrying_a_misaligned_date_is_refused_but_its_events_replay():
    misaligned = PartialDate(
        start=dt.date(2022, 1, 15), end=dt.date(2022, 2, 15), precision="month"
    )
    schedule = b.schedule()
    command = msgspec.structs.replace(
        schedule, plan=msgspec.structs.replace(schedule.plan, planned=misaligned)
    )
    launched = decide(Dialogue(), b.launch())
    state = reduce(evolve, launched, Dialogue())
    with pytest.raises(InvalidPartialDate):
        decide(state, command)
    recorded = e.SessionScheduled(dialogue_id=b.D, session_id=b.S, plan=command.plan)
    replayed = evolve(state, recorded).sessions[b.S].plan
    assert replayed is not None and replayed.planned == misaligned


@pytest.mark.parametrize("invisible", ["", "   ", "\u200b", "\u180e", "\ufeff", "\x1e", "\x85"])
def test_a_name_or_reason_must_show_something(invisible):
    with pytest.raises(InvalidValue):
        check_name(invisible, "A dialogue")
    with pytest.raises(MissingReason):
        check_reason(invisible, "A correction")
    check_name("\u200bESPD", "A dialogue")
