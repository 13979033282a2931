"""`rules check`: errors with file, entry and reason, queries with a caret, and useful warnings."""

from __future__ import annotations

from pathlib import Path

from newsmon.rules.check import check_config, explain_query_error, query_warnings
from newsmon.rules.query import QuerySyntaxError, parse_query

SOURCES = "sources:\n  - {name: wire, url: 'https://wire.example/rss'}\n"
TOPICS = "topics:\n  - {name: drones, query: 'drone OR مسيرة'}\n"


def write(directory: Path, alerts: str) -> Path:
    (directory / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (directory / "topics.yaml").write_text(TOPICS, encoding="utf-8")
    (directory / "alerts.yaml").write_text(alerts, encoding="utf-8")
    return directory


def caret(query: str) -> tuple[str, ...]:
    try:
        parse_query(query)
    except QuerySyntaxError as err:
        return explain_query_error(query, err)
    raise AssertionError("the query parsed")


def test_caret_sits_under_the_fault() -> None:
    line, marker = caret("ISIS AND (Anbar OR Ramadi))")
    assert line == "    ISIS AND (Anbar OR Ramadi))"
    assert marker.index("^") == line.rindex(")")
    assert "this ')' closes nothing" in marker
    line, marker = caret("(ISIS OR Daesh AND Anbar")
    assert marker.index("^") == line.index("(") and "this '(' is never closed" in marker
    line, marker = caret("Anbar AND")
    assert marker.index("^") == line.index("AND") and "expected a term after AND" in marker


def test_caret_on_the_right_line_of_a_multi_line_query() -> None:
    line, marker = caret('(ISIS OR Daesh)\nAND (Anbar OR "Wadi Horan)\n')
    assert line == '    AND (Anbar OR "Wadi Horan)'
    assert marker.index("^") == line.index('"') and "quote is never closed" in marker


def test_a_long_query_is_shown_around_the_fault() -> None:
    query = " OR ".join(f"word{n}" for n in range(60)) + " AND )"
    line, marker = caret(query)
    assert len(line) < 120 and line.lstrip().startswith("…")
    assert line[marker.index("^") :].startswith("AND )") and "expected a term after AND" in marker


def test_right_to_left_queries_also_name_the_character() -> None:
    lines = caret('داعش AND "الأنبار')
    assert "the fault is at character 10" in lines[-1] and "الأنبار" in lines[-1]


def test_query_warnings_flag_unknown_fields_and_short_words() -> None:
    warnings = query_warnings(
        'IS AND topic:drone AND source:wire AND "topic:x" AND mi* AND US*',
        topics={"drones"},
        sources={"wire"},
    )
    assert len(warnings) == 4, warnings
    assert warnings[0] == "topic:drone names no topic in topics.yaml, so that part never matches"
    assert "'IS' is a very short word" in warnings[1] and "the ordinary word 'is'" in warnings[1]
    assert "'mi*' matches every word starting with 'mi'" in warnings[2]
    assert "'US*' matches every word starting with 'us'" in warnings[3]
    assert query_warnings('"Islamic State" AND Anbar*', topics=set(), sources=set()) == []


def test_check_config_errors_carry_the_caret(tmp_path: Path) -> None:
    write(tmp_path, "alerts:\n  - name: broken\n    query: '(ISIS OR Daesh'\n")
    report = check_config(tmp_path)
    assert report.config is None
    [error] = report.errors
    assert error.message.startswith(f"{tmp_path / 'alerts.yaml'}: alerts[0] (broken): query:")
    assert error.detail == (
        "    (ISIS OR Daesh",
        "    ^ this '(' is never closed: add a ')' after its terms",
    )


def test_check_config_flags_unknown_schemes_and_unset_variables(tmp_path: Path) -> None:
    write(
        tmp_path,
        "alerts:\n  - name: r\n    query: 'topic:drones AND PMF'\n"
        "    notify: ['jsno://127.0.0.1/x', 'json://127.0.0.1/${HOOK_PATH}', "
        "'json://127.0.0.1/${prefect-secret:hook-path}']\n",
    )
    report = check_config(tmp_path, environ={})
    [error] = report.errors
    assert "no Apprise service has the scheme 'jsno://'" in error.message
    [warning] = report.warnings
    assert "${HOOK_PATH} is not set in this environment" in warning.message
    assert check_config(tmp_path, environ={"HOOK_PATH": "x"}).warnings == []
