"""The calendar's HTML page: a valid, self-contained document that names the busiest minute."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

from lambdacron.calendar import render_html, week_calendar
from lambdacron.runtime.manifest import Task

VOID = {
    "meta",
    "br",
    "hr",
    "img",
    "input",
    "link",
    "col",
    "area",
    "base",
    "embed",
    "source",
    "track",
    "wbr",
}


class Checker(HTMLParser):
    """Records structure problems: unbalanced tags, and any attribute that loads something."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.doctype = ""
        self.text: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data"):
                self.problems.append(f"<{tag} {name}={value!r}> loads something")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def task(name: str, expression: str, enabled: bool = True) -> Task:
    return Task(name, expression, "UTC", {"type": "http"}, enabled=enabled)


def page(*tasks: Task) -> str:
    return render_html(
        week_calendar("prod", tasks, date(2026, 11, 5), "UTC", source="rendered project")
    )


def check(text: str) -> Checker:
    checker = Checker()
    checker.feed(text)
    checker.close()
    return checker


def test_the_page_is_a_well_formed_self_contained_document() -> None:
    text = page(
        task("heartbeat", "*/15 * * * *"),
        task("monthly", "0 17 5 * *"),
        task("off", "@daily", enabled=False),
    )
    checker = check(text)
    assert checker.doctype.lower() == "doctype html"
    assert checker.problems == [] and checker.stack == []
    assert checker.tags[:3] == ["html", "head", "meta"]
    assert (
        checker.tags.count("html") == checker.tags.count("head") == checker.tags.count("body") == 1
    )
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(checker.tags)
    assert not re.search(r"https?://|url\(|@import", text, re.I)
    assert '<meta charset="utf-8">' in text and "<style>" in text


def test_the_page_has_the_grid_and_names_the_busiest_minute() -> None:
    text = page(task("heartbeat", "*/15 * * * *"), task("monthly", "0 17 5 * *"))
    rows = re.findall(r'<tr><th scope="row" class="day">(.*?)</th>(.*?)</tr>', text)
    assert [day for day, _ in rows] == [
        f"{d} 2026-11-0{n}"
        for d, n in zip(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), range(2, 9), strict=True)
    ]
    for day, cells in rows:
        counts = re.findall(r"<td[^>]*>(\d*)</td>", cells)
        assert len(counts) == 25  # 24 hours and the day's total
        expected = ["4"] * 24
        if day == "Thu 2026-11-05":
            expected[17] = "5"
        assert counts[:24] == expected
        assert counts[24] == str(sum(map(int, expected)))
    assert (
        "<strong>Busiest minute: Thu 2026-11-05 17:00 UTC</strong>, 2 tasks at once: "
        "<code>heartbeat</code>, <code>monthly</code>"
    ) in text
    # the busiest hour is outlined and darkest; the steady background is the palest
    assert re.search(
        r'<td class="l4 peak" title="Thu 2026-11-05 17:00-17:59 UTC: 5 fires '
        r'\(heartbeat x4; monthly x1\)">5</td>',
        text,
    )
    assert text.count('<td class="l1"') == 167


def test_a_week_without_fires_says_so() -> None:
    text = page(task("monthly", "0 17 5 * *"), task("yearly", "@yearly"))
    text_nov12 = render_html(
        week_calendar("prod", [task("monthly", "0 17 5 * *")], date(2026, 11, 12), "UTC")
    )
    assert "No task fires this week." in text_nov12
    assert "No task fires this week." not in text
    assert check(text_nov12).problems == []


def test_names_are_escaped() -> None:
    text = page(task('<img src="https://x">', "0 17 5 * *"))
    assert "<img" not in text
    assert "&lt;img src=&quot;https://x&quot;&gt;" in text
    assert check(text).problems == []
