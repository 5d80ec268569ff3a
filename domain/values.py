"""Value types of the register: parties, partial dates, people, places and sources."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

import msgspec
import pycountry

from domain.errors import (
    InvalidPartialDate,
    InvalidValue,
    MissingReason,
    UnknownCurrency,
    UnknownParty,
)

PartyCode = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code of a state",
        examples=["KZ", "US"],
    ),
]

Precision = Literal[
    "day", "month", "season", "quarter", "quadrimester", "half", "year", "approximate"
]


@lru_cache(maxsize=512)
def _is_country(code: str) -> bool:
    return len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None


def party_code(code: str) -> str:
    """Accept a party only if ISO 3166-1 knows it, so "XX" can never enter the record."""
    if not _is_country(code):
        raise UnknownParty(code)
    return code


CurrencyCode = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Z]{3}$", description="ISO 4217 currency code", examples=["USD", "EUR"]
    ),
]


@lru_cache(maxsize=256)
def _is_currency(code: str) -> bool:
    return len(code) == 3 and pycountry.currencies.get(alpha_3=code) is not None


def currency_code(code: str) -> str:
    """Accept a currency only if ISO 4217 knows it: "USS" is a typo, not money."""
    if not _is_currency(code):
        raise UnknownCurrency(code)
    return code


def check_parties(codes: Iterable[str]) -> None:
    for code in codes:
        party_code(code)


_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
"""Unicode categories that show nothing: controls, format marks (zero-width space, BOM),
surrogates, private use, unassigned and separators."""


def shows_something(text: str) -> bool:
    """Whether the text has a character a reader sees: "\u200b" or "\ufeff" shows nothing."""
    return any(unicodedata.category(ch) not in _INVISIBLE for ch in text)


def check_reason(reason: str, what: str) -> None:
    """Corrections and refusals of plans must say why; an empty reason explains nothing."""
    if not shows_something(reason):
        raise MissingReason(what)


def check_name(name: str, what: str) -> None:
    """A name the register shows and sorts by must show something: "" or "   " names
    nothing. Checked on commands only, so a name recorded before the rule still replays."""
    if not shows_something(name):
        raise InvalidValue(f"{what} needs a name with at least one visible character")


FIGURE_LIMIT = Decimal(10) ** 30
FIGURE_PLACES = 12


def check_figure(value: Decimal) -> None:
    """A recorded figure is a finite number of sensible size: NaN, infinities and values
    like 1E+999999 cannot be stored as numbers, summed or put in a spreadsheet."""
    number = Decimal(value)  # also an int, as code (not JSON) may build one
    if (
        not number.is_finite()
        or abs(number) >= FIGURE_LIMIT
        or number.as_tuple().exponent < -FIGURE_PLACES  # type: ignore[operator]
    ):
        raise InvalidValue(
            f"{value} is not a figure: finite, below 10^30, at most {FIGURE_PLACES} decimals"
        )


def pair_of(a: str, b: str) -> tuple[str, str]:
    """A relationship has no direction: KZ-US and US-KZ are the same pair; and a party has
    none with itself, whether it is written to or read."""
    first, second = sorted((party_code(a), party_code(b)))
    if first == second:
        raise InvalidValue(f"A relationship needs two distinct parties, not {first} twice")
    return first, second


# ---------------------------------------------------------------- partial dates


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


# EDTF level 2 sub-year groupings: code -> (first month, length in months, precision).
# Seasons are the northern-hemisphere meteorological ones (21-24 and 25-28 alike).
_GROUPINGS: dict[int, tuple[int, int, Precision]] = {
    33: (1, 3, "quarter"),
    34: (4, 3, "quarter"),
    35: (7, 3, "quarter"),
    36: (10, 3, "quarter"),
    40: (1, 6, "half"),
    41: (7, 6, "half"),
    37: (1, 4, "quadrimester"),
    38: (5, 4, "quadrimester"),
    39: (9, 4, "quadrimester"),
    21: (3, 3, "season"),
    22: (6, 3, "season"),
    23: (9, 3, "season"),
    24: (12, 3, "season"),
    25: (3, 3, "season"),
    26: (6, 3, "season"),
    27: (9, 3, "season"),
    28: (12, 3, "season"),
}
_MONTHS = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
_MONTHS["sept"] = 9
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4}
_THIRDS = {"early": 37, "mid": 38, "middle": 38, "late": 39}
_SEASONS = {"spring": 21, "summer": 22, "autumn": 23, "fall": 23, "winter": 24}


class PartialDate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A date as the world reports it: an interval [start, end) with a precision.

    Sources rarely give a day ("early 2022", "first half of 2022"), so the register keeps
    the interval such wording denotes, how precise it is, and the wording itself.
    """

    start: dt.date
    end: dt.date
    precision: Precision
    wording: str = ""

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise InvalidPartialDate(
                self.wording or f"{self.start}/{self.end}", "its start must precede its end"
            )

    def check_precision(self) -> None:
        """Refuse an interval whose ends its precision could not name: "month" from the
        15th, "quarter" from February. A range keeps its ends' precision ("January to March
        2022" is months), so the ends are checked, not the length. On commands only
        (`check_partial_dates`): dates recorded before the rule still replay."""
        months = _BOUNDARY_MONTHS.get(self.precision)
        if months is None:
            return
        for end in (self.start, self.end):
            if end.day != 1 or end.month not in months:
                raise InvalidPartialDate(
                    self.wording or f"{self.start}/{self.end}",
                    f"a {self.precision} begins and ends on the first day of"
                    f" {_month_names(months)}, not on {end.isoformat()}",
                )

    @classmethod
    def on(cls, day: dt.date, wording: str = "") -> PartialDate:
        return cls(start=day, end=day + dt.timedelta(days=1), precision="day", wording=wording)

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Read EDTF ("2022-01~", "2022-40") or English ("Dec. 15, 2021", "early 2022")."""
        cleaned = re.sub(r"\s+", " ", text.strip().lower().removeprefix("in ").rstrip("."))
        for pattern, build in _READERS:
            match = pattern.fullmatch(cleaned)
            if match:
                try:
                    start, end, precision = build(match)
                except ValueError as error:
                    raise InvalidPartialDate(text, str(error)) from error
                return cls(start=start, end=end, precision=precision, wording=text.strip())
        raise InvalidPartialDate(text)

    def to_edtf(self) -> str:
        """EDTF for the interval: a day, month, year, sub-year grouping or a level-1 range."""
        mark = "~" if self.precision == "approximate" else ""
        single = _edtf_unit(self.start, self.end)
        if single is not None:
            return single + mark
        last = self.end - dt.timedelta(days=1)
        return f"{self.start.isoformat()}{mark}/{last.isoformat()}{mark}"

    def is_before(self, other: PartialDate) -> bool:
        """Entirely before: partial dates that overlap are never out of order."""
        return self.end <= other.start

    def __str__(self) -> str:
        return self.wording or self.to_edtf()


def _edtf_unit(start: dt.date, end: dt.date) -> str | None:
    if end - start == dt.timedelta(days=1):
        return start.isoformat()
    if start.day != 1:
        return None
    if start.month == 1 and end == dt.date(start.year + 1, 1, 1):
        return f"{start.year:04d}"
    if end == _add_months(start, 1):
        return f"{start.year:04d}-{start.month:02d}"
    for code, (month, length, _) in _GROUPINGS.items():
        if start.month == month and end == _add_months(start, length):
            return f"{start.year:04d}-{code}"
    return None


_Reading = tuple[dt.date, dt.date, Precision]

_BOUNDARY_MONTHS: dict[str, frozenset[int]] = {
    "month": frozenset(range(1, 13)),
    "year": frozenset({1}),
    **{
        precision: frozenset(m for m, _, p in _GROUPINGS.values() if p == precision)
        for precision in ("quarter", "half", "quadrimester", "season")
    },
}
"""The months a precision's intervals begin and end in (on their first day); a day or an
approximate date may begin and end on any day."""


def _month_names(months: frozenset[int]) -> str:
    if len(months) == 12:
        return "a month"
    return " or ".join(calendar.month_name[m] for m in sorted(months))


def check_partial_dates(message: object) -> None:
    """Check the precision of every partial date a command carries, however nested."""
    if isinstance(message, PartialDate):
        message.check_precision()
    elif isinstance(message, msgspec.Struct):
        for field in message.__struct_fields__:
            check_partial_dates(getattr(message, field))
    elif isinstance(message, list | tuple):
        for item in message:
            check_partial_dates(item)


def _year(match: re.Match[str]) -> _Reading:
    year = int(match["year"])
    return dt.date(year, 1, 1), dt.date(year + 1, 1, 1), "year"


def _month(year: int, month: int) -> _Reading:
    start = dt.date(year, month, 1)
    return start, _add_months(start, 1), "month"


def _grouping(year: int, code: int) -> _Reading:
    if code not in _GROUPINGS:
        raise ValueError(f"sub-year grouping {code} is not supported")
    month, length, precision = _GROUPINGS[code]
    start = dt.date(year, month, 1)
    return start, _add_months(start, length), precision


def _edtf_single(match: re.Match[str]) -> _Reading:
    year, month, day = int(match["year"]), match["month"], match["day"]
    if day is not None:
        start = dt.date(year, int(month), int(day))
        reading: _Reading = (start, start + dt.timedelta(days=1), "day")
    elif month is None:
        reading = _year(match)
    elif int(month) <= 12:
        reading = _month(year, int(month))
    else:
        reading = _grouping(year, int(month))
    return _approximate(reading) if match["mark"] else reading


def _approximate(reading: _Reading) -> _Reading:
    return reading[0], reading[1], "approximate"


def _edtf_range(match: re.Match[str]) -> _Reading:
    first = _edtf_single(_EDTF_SINGLE.fullmatch(match["first"]) or _no_match(match["first"]))
    last = _edtf_single(_EDTF_SINGLE.fullmatch(match["last"]) or _no_match(match["last"]))
    precision = "approximate" if "approximate" in (first[2], last[2]) else first[2]
    return first[0], last[1], precision


def _no_match(text: str) -> re.Match[str]:
    raise ValueError(f"{text!r} is not an EDTF date")


def _english_day(match: re.Match[str]) -> _Reading:
    start = dt.date(int(match["year"]), _MONTHS[match["month"]], int(match["day"]))
    return start, start + dt.timedelta(days=1), "day"


def _english_month(match: re.Match[str]) -> _Reading:
    return _month(int(match["year"]), _MONTHS[match["month"]])


def _quarter(match: re.Match[str]) -> _Reading:
    number = int(match["n"]) if match["n"] else _ORDINALS[match["ordinal"]]
    return _grouping(int(match["year"]), 32 + number)


def _half(match: re.Match[str]) -> _Reading:
    number = int(match["n"]) if match["n"] else _ORDINALS[match["ordinal"]]
    return _grouping(int(match["year"]), 39 + number)


def _third(match: re.Match[str]) -> _Reading:
    return _approximate(_grouping(int(match["year"]), _THIRDS[match["part"]]))


def _season(match: re.Match[str]) -> _Reading:
    return _grouping(int(match["year"]), _SEASONS[match["season"]])


_Y = r"(?P<year>\d{4})"
_EDTF_SINGLE = re.compile(_Y + r"(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?(?P<mark>~)?")
_MON = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_READERS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], _Reading]], ...] = (
    (_EDTF_SINGLE, _edtf_single),
    (re.compile(r"(?P<first>[^/]+)/(?P<last>[^/]+)"), _edtf_range),
    (re.compile(_MON + r" (?P<day>\d{1,2}),? " + _Y), _english_day),
    (re.compile(r"(?P<day>\d{1,2}) " + _MON + " " + _Y), _english_day),
    (re.compile(_MON + ",? " + _Y), _english_month),
    (
        re.compile(
            r"(?:q(?P<n>[1-4])|(?P<ordinal>first|1st|second|2nd|third|3rd|fourth) quarter(?: of)?) "
            + _Y
        ),
        _quarter,
    ),
    (re.compile(r"(?:h(?P<n>[12])|(?P<ordinal>first|1st|second|2nd) half(?: of)?) " + _Y), _half),
    (re.compile(r"(?P<part>early|mid|middle|late)[- ](?:of )?" + _Y), _third),
    (re.compile(r"(?P<season>spring|summer|autumn|fall|winter)(?: of)? " + _Y), _season),
)


# ---------------------------------------------------------------- people, places, sources


class Person(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Someone acting for a party; the title and organization are as the source gives them."""

    name: str
    title: str
    organization: str
    party: PartyCode

    def __post_init__(self) -> None:
        party_code(self.party)


class Place(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    city: str
    country: PartyCode

    def __post_init__(self) -> None:
        party_code(self.country)


class Source(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a fact comes from; auditors need to reach it again."""

    title: str
    publisher: str
    url: str | None = None
    published: dt.date | None = None
    reporting: str | None = None


class Statement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Something said at a session, by one party or jointly by several."""

    by: tuple[PartyCode, ...]
    text: str

    def __post_init__(self) -> None:
        check_parties(self.by)

    @property
    def joint(self) -> bool:
        return len(set(self.by)) > 1


LinkKind = Literal["session", "visit", "dialogue"]


class Link(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an outcome leads to: a next session, a visit or a new dialogue."""

    kind: LinkKind
    target_id: uuid.UUID


class OutcomeRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An outcome lives in its dialogue's stream, so naming it takes both ids."""

    dialogue_id: uuid.UUID
    outcome_id: uuid.UUID
