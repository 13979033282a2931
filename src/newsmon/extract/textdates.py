"""Publication dates written in a page's visible text, in Arabic or English.

Many Arabic outlets publish no date metadata, only a line such as
`تاريخ النشر: 27 نوفمبر 2026 الساعة 16:56` or `نُشر في ٣ تشرين الثاني ٢٠٢٦ - ١٠:١٥ بتوقيت بغداد`.
htmldate (inside trafilatura) does not read Arabic month names; its last resorts then return the
copyright year as 1 January, which is worse than no date. This module reads such lines: month
names of Egypt and the Gulf (نوفمبر), of Iraq and the Levant (تشرين الثاني), and of the Maghreb
(نوفمبر/جوان), Arabic-Indic and Persian digits, 12-hour clocks (ص/م, AM/PM) and a stated time zone
(`بتوقيت بغداد`, `GMT+3`, `+03:00`).

Only dates that the page labels as its publication date (`تاريخ النشر`, `نشر في`, `Published`,
...) or that stand in an element named for a date are read: an unlabelled date in running text,
or the site's "today" in the top bar, is not this article's date. A time without a stated zone is
taken as UTC (the article's day is then right; its hour may be off by the site's offset).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from lxml.html import HtmlElement

# Folded spellings (see _fold) -> month number.
_MONTHS: dict[str, int] = {
    # Egypt, Gulf
    "يناير": 1, "فبراير": 2, "مارس": 3, "ابريل": 4, "مايو": 5, "يونيو": 6, "يونيه": 6,
    "يوليو": 7, "يوليه": 7, "اغسطس": 8, "سبتمبر": 9, "اكتوبر": 10, "نوفمبر": 11, "ديسمبر": 12,
    # Iraq, Syria, Lebanon, Jordan, Palestine
    "كانون الثاني": 1, "شباط": 2, "اذار": 3, "نيسان": 4, "ايار": 5, "حزيران": 6, "تموز": 7,
    "اب": 8, "ايلول": 9, "تشرين الاول": 10, "تشرين الثاني": 11, "كانون الاول": 12,
    # Maghreb
    "جانفي": 1, "فيفري": 2, "افريل": 4, "ماي": 5, "جوان": 6, "جويليه": 7, "اوت": 8,
    # English
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
# Fixed-offset zones named in "بتوقيت <city or country>" (none of them keeps daylight saving time
# today: Iraq since 2008, Syria and Jordan since 2022, Iran since 2022).
_ZONES: dict[str, timedelta] = {
    **dict.fromkeys(
        ("بغداد", "العراق", "اربيل", "دمشق", "سوريا", "عمان", "الاردن", "مكه", "مكة", "الرياض",
         "السعوديه", "السعودية", "الدوحه", "الدوحة", "قطر", "الكويت", "البحرين", "المنامه"),
        timedelta(hours=3),
    ),
    **dict.fromkeys(("ابوظبي", "دبي", "الامارات", "مسقط"), timedelta(hours=4)),
    **dict.fromkeys(("طهران", "ايران"), timedelta(hours=3, minutes=30)),
    **dict.fromkeys(("غرينتش", "غرينيتش", "جرينتش", "جرينيتش", "غرينتش"), timedelta(0)),
}  # fmt: skip
# Words that introduce the publication date (folded). Update labels are absent on purpose.
_PUBLISHED_LABELS = (
    "تاريخ النشر", "نشر في", "نشرت في", "نشر بتاريخ", "تاريخ الخبر", "تاريخ الاضافه",
    "تاريخ الاضافة", "تاريخ الاضافه", "published on", "published", "posted on", "posted",
    "first published", "date published",
)  # fmt: skip
# Element names and labels of dates that are not the publication date: an update, or the site's
# "today" in its top bar.
_UPDATE_WORDS = ("تحديث", "حدث", "update", "modified", "edited", "today", "current", "clock")
_DATE_CLASS = re.compile(r"date|time|publish|posted|created|byline|meta", re.IGNORECASE)
_MAX_TEXT = 200_000  # characters of visible text read at most (bounded work on huge pages)
_MAX_CANDIDATES = 200

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u0640]")  # harakat, tatweel
_MONTH_ALT = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_MONTH = rf"(?<!\w)(?P<{{name}}>{_MONTH_ALT})(?!\w)"
_SEP = r"[\s,.\-/]*"
_DAY_FIRST = re.compile(
    rf"(?<!\d)(?P<day>\d{{1,2}}){_SEP}{_MONTH.format(name='month')}"
    rf"(?:\s*[/(]\s*{_MONTH.format(name='month2')}\)?)?{_SEP}(?P<year>\d{{4}})(?!\d)",
    re.IGNORECASE,
)
_MONTH_FIRST = re.compile(
    rf"{_MONTH.format(name='month')}\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})(?!\d)",
    re.IGNORECASE,
)
_ISO = re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?!\d)")
_NUMERIC = re.compile(r"(?<!\d)(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<year>\d{4})(?!\d)")
_TIME = re.compile(
    r"(?<!\d)(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"\s*(?P<half>صباحا|صباحا|مساء|مساءا|ص|م|am|pm|a\.m\.|p\.m\.)?(?!\w)",
    re.IGNORECASE,
)
_ZONE = re.compile(
    r"بتوقيت\s+(?P<city>[\w]+)"
    r"|(?:gmt|utc|غرينتش|جرينتش)\s*(?P<sign>[+-])?\s*(?P<hours>\d{1,2})?(?::?(?P<minutes>\d{2}))?"
    r"|(?<![\d:])(?P<sign2>[+-])(?P<hours2>\d{2}):?(?P<minutes2>\d{2})(?!\d)",
    re.IGNORECASE,
)


def published_from_text(tree: HtmlElement, *, now: datetime | None = None) -> datetime | None:
    """The publication date a page states in words, as aware UTC; None when it states none."""
    latest = (now or datetime.now(UTC)) + timedelta(days=1)
    for segment in _candidate_segments(tree):
        found = read_date(segment, latest=latest)
        if found is not None:
            return found
    return None


def read_date(text: str, *, latest: datetime | None = None) -> datetime | None:
    """The first full date (day, month, year; time and zone if given) in a short text."""
    folded = _fold(text)
    arabic = bool(re.search("[\u0600-\u06ff]", folded))
    for match in _date_matches(folded):
        parts = _ymd(match, day_first=arabic)
        if parts is None:
            continue
        year, month, day = parts
        try:
            date = datetime(year, month, day, tzinfo=UTC)
        except ValueError:
            continue
        after = folded[match.end() : match.end() + 60]
        before = folded[max(0, match.start() - 25) : match.start()]
        stamped = _with_time(date, after) or _with_time(date, before) or date
        if not stamped.year >= 1995 or (latest is not None and stamped > latest):
            continue
        return stamped
    return None


def _candidate_segments(tree: HtmlElement) -> list[str]:
    """Short texts that may hold the publication date: after a label, or in a date element."""
    segments: list[str] = []
    for element in tree.iter():
        if len(segments) >= _MAX_CANDIDATES:
            break
        if not isinstance(element.tag, str) or element.tag in ("script", "style", "noscript"):
            continue
        names = f"{element.get('class', '')} {element.get('id', '')} {element.get('itemprop', '')}"
        if _DATE_CLASS.search(names) and not any(w in names.lower() for w in _UPDATE_WORDS):
            text = " ".join(element.text_content().split())
            if 6 <= len(text) <= 200:
                segments.append(text)
    labelled: list[str] = []
    text = _fold(" ".join(" ".join(tree.xpath("//body//text()[not(ancestor::script)]")).split()))
    for label in _PUBLISHED_LABELS:
        start = 0
        while (at := text.find(label, start, _MAX_TEXT)) >= 0 and len(labelled) < _MAX_CANDIDATES:
            labelled.append(text[at + len(label) : at + len(label) + 90])
            start = at + len(label)
    # A labelled date is the strongest evidence; an element named for dates comes next.
    return labelled + segments


def _fold(text: str) -> str:
    text = _DIACRITICS.sub("", text.translate(_DIGITS))
    text = re.sub("[أإآٱ]", "ا", text).replace("ى", "ي").replace("،", ",")
    return text.lower()


def _date_matches(folded: str) -> list[re.Match[str]]:
    matches = [
        m
        for pattern in (_DAY_FIRST, _MONTH_FIRST, _ISO, _NUMERIC)
        for m in pattern.finditer(folded)
    ]
    return sorted(matches, key=lambda m: m.start())


def _ymd(match: re.Match[str], *, day_first: bool) -> tuple[int, int, int] | None:
    groups = match.groupdict()
    year = int(groups["year"])
    if "a" in groups and groups.get("a") is not None:
        a, b = int(groups["a"]), int(groups["b"])
        if a > 12 or day_first:
            return year, b, a
        if b > 12:
            return year, a, b
        return None  # 03/04/2026 outside an Arabic page: April or March? Not a guess we make.
    month = groups["month"]
    number = int(month) if month.isdigit() else _MONTHS[month.lower()]
    return year, number, int(groups["day"])


def _with_time(date: datetime, text: str) -> datetime | None:
    found = _TIME.search(text)
    if found is None:
        return None
    hour, minute = int(found["hour"]), int(found["minute"])
    second = int(found["second"] or 0)
    half = (found["half"] or "").lower()
    if half.startswith(("م", "p")) and hour < 12:
        hour += 12
    elif half.startswith(("ص", "a")) and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    offset = _zone(text[found.end() : found.end() + 40])
    local = date.replace(hour=hour, minute=minute, second=second, tzinfo=timezone(offset))
    return local.astimezone(UTC)


def _zone(text: str) -> timedelta:
    found = _ZONE.search(text)
    if found is None:
        return timedelta(0)
    if found["city"]:
        return _ZONES.get(found["city"], timedelta(0))
    sign = found["sign"] or found["sign2"] or "+"
    hours = int(found["hours"] or found["hours2"] or 0)
    minutes = int(found["minutes"] or found["minutes2"] or 0)
    if hours > 14 or minutes > 59:
        return timedelta(0)
    offset = timedelta(hours=hours, minutes=minutes)
    return -offset if sign == "-" else offset
