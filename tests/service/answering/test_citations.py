from __future__ import annotations

from ingest.hits import Hit
from service.answering.citations import extract_citations, filter_citations, strip_citations


def test_extract_citations_finds_markers_and_bare_names_in_order():
    text = (
        "图中商品是黑色的 [101.jpg]【102.PNG】，另见 sub/104.jpg 与 [101.jpg] 以及 [商品 7.webp]。"
    )
    assert extract_citations(text) == ["101.jpg", "102.PNG", "sub/104.jpg", "商品 7.webp"]


def test_extract_citations_ignores_non_images_and_partial_words():
    assert extract_citations("见 [notes.txt]、report.jpgx 和 a.jpeg2") == []
    assert extract_citations("没有引用") == []


def test_strip_citations_keeps_bare_names():
    assert strip_citations("图中商品是黑色的。[101.jpg][102.jpg]") == "图中商品是黑色的。"
    assert strip_citations("101.jpg[101.jpg][102.jpg]") == "101.jpg"


def test_filter_citations_keeps_only_retrieved_files_in_cited_order(hits):
    cited = ["sub/104.jpg", "evil.jpg", "101.jpg", "sub/104.jpg", "images/102.jpg"]
    kept = filter_citations(cited, hits)
    assert [h.file for h in kept] == ["sub/104.jpg", "101.jpg", "102.jpg"]
    assert all(isinstance(h, Hit) for h in kept)


def test_filter_citations_refuses_ambiguous_base_names():
    allowed = [Hit("1", "a/1.jpg", None, 0.5), Hit("2", "b/1.jpg", None, 0.4)]
    assert filter_citations(["1.jpg"], allowed) == []
    assert [h.file for h in filter_citations(["b/1.jpg"], allowed)] == ["b/1.jpg"]


def test_marker_filter_hides_markers_split_across_pieces():
    from service.answering.citations import MarkerFilter

    f = MarkerFilter()
    pieces = ["这是黑色", "的衬衫。[12", "34.jpg][", "sub/9.png", "] 数组a[0]不是引用", "【7.jpg】"]
    shown = "".join(f.feed(p) for p in pieces) + f.flush()
    assert shown == "这是黑色的衬衫。 数组a[0]不是引用"
    g = MarkerFilter(max_marker=10)
    assert g.feed("[未闭合的很长很长很长很长的括号") == "[未闭合的很长很长很长很长的括号"
