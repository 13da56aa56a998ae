"""The dashboard's SVG bar charts: well-formed, to scale, linked and escaped."""

import xml.etree.ElementTree as ET

from ecard_integration import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own chart, not untrusted input


def rects(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]


def test_bars_are_to_scale_with_the_tallest_at_the_top():
    groups = [
        charts.Group("Mon", [charts.Bar(10, "ten")]),
        charts.Group("Tue", [charts.Bar(40, "forty")]),
        charts.Group("Wed", [charts.Bar(0, "none")]),
    ]
    root = parse(charts.bar_chart(groups, title="Redemptions", height=200))
    heights = [float(rect.get("height")) for rect in rects(root)]
    plot = 200 - charts.TOP - charts.BOTTOM
    assert heights == [plot / 4, plot, 0]
    assert root.find(f"{SVG}title").text == "Redemptions"
    labels = [text.text for text in root.iter(f"{SVG}text")]
    assert {"Redemptions", "Mon", "Tue", "Wed", "10", "40", "0"} <= set(labels)


def test_each_bar_links_to_its_list_with_its_value_in_words():
    bar = charts.Bar(3, "Tue: 3 declines", "/admin/x/?state=declined&store_id=a")
    root = parse(charts.bar_chart([charts.Group("Tue", [bar])], title="Declines"))
    (link,) = root.iter(f"{SVG}a")
    assert link.get("href") == "/admin/x/?state=declined&store_id=a"  # escaped in the SVG
    assert link.find(f"{SVG}rect/{SVG}title").text == "Tue: 3 declines"


def test_two_series_sit_side_by_side_with_a_legend():
    groups = [charts.Group("Mon", [charts.Bar(100, "p50"), charts.Bar(300, "p95")])]
    svg = charts.bar_chart(groups, title="Latency", series=("p50", "p95"))
    bars = rects(parse(svg))
    assert float(bars[0].get("x")) < float(bars[1].get("x"))
    assert bars[0].get("fill") != bars[1].get("fill")
    assert ">p95</text>" in svg


def test_text_is_escaped_and_nothing_runs():
    evil = '<script>alert("x")</script>'
    svg = charts.bar_chart([charts.Group(evil, [charts.Bar(1, evil, evil)])], title=evil)
    assert "<script" not in svg
    parse(svg)  # still well-formed


def test_nothing_to_draw_is_still_a_chart():
    root = parse(charts.bar_chart([], title="Empty"))
    assert rects(root) == []
    zeros = parse(charts.bar_chart([charts.Group("Mon", [charts.Bar(0, "0")])], title="Zero"))
    assert [float(rect.get("height")) for rect in rects(zeros)] == [0]
