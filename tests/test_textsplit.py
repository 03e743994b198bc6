"""Splitting long lines: nothing lost, every part fits, no marker or pronunciation cut."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttsbatch.manifest.textsplit import GROUP, MARKER, edge_pauses, split_text
from ttsbatch.minimax import catalog


def cuts(parts: list[str]) -> list[int]:
    out, pos = [], 0
    for part in parts[:-1]:
        pos += len(part)
        out.append(pos)
    return out


def assert_valid(text: str, parts: list[str], max_chars: int) -> None:
    assert "".join(parts) == text
    assert all(len(p) <= max_chars for p in parts)
    spans = [m.span() for m in MARKER.finditer(text)]
    spans += [m.span() for m in GROUP.finditer(text) if m.end() - m.start() <= max_chars]
    for c in cuts(parts):
        assert not any(a < c < b for a, b in spans), (c, text[max(0, c - 15) : c + 15])


# ----------------------------------------------------------------- examples ----


def test_short_text_is_one_part_and_empty_is_none():
    assert split_text("Hello.", 100) == ["Hello."]
    assert split_text("", 100) == []


@pytest.mark.parametrize("bad", [0, 31, catalog.T2A_MAX_CHARS + 1])
def test_max_chars_is_checked(bad):
    with pytest.raises(ValueError, match="max_chars"):
        split_text("x" * 100_000, bad)


def test_paragraph_beats_sentence_beats_clause_beats_space():
    para = "One sentence here. Another sentence, with a clause.\nNext paragraph starts here and goes on."
    assert split_text(para, 80)[0] == "One sentence here. Another sentence, with a clause.\n"
    sent = "One sentence is here. Another sentence, with a clause and words to make it long"
    assert split_text(sent, 60)[0] == "One sentence is here. "
    clause = "A long clause without a full stop, and then another one goes on and on"
    assert split_text(clause, 60)[0] == "A long clause without a full stop, "
    words = "words without any punctuation at all that simply go on and on for ever"
    parts = split_text(words, 40)
    assert parts[0] == "words without any punctuation at all "
    assert all(p.endswith(" ") for p in parts[:-1])


def test_whitespace_stays_with_the_earlier_part():
    parts = split_text("First sentence is here.   Second sentence is also here and long.", 40)
    assert parts == ["First sentence is here.   ", "Second sentence is also here and long."]


def test_a_near_boundary_is_not_taken_when_a_late_one_exists():
    # the paragraph at 6 chars would make a tiny part; the late sentence end is better
    text = "Intro\n" + "Then a sentence that runs for a while. " * 3 + "tail words"
    parts = split_text(text, 100)
    assert len(parts[0]) > 100 // 3
    assert parts[0].endswith(". ")


def test_sentence_end_needs_a_space_so_numbers_and_abbreviations_survive():
    text = "Pi is 3.14159 and e is 2.71828 roughly, said the U.S.A. teacher to the class today"
    for part in split_text(text, 40):
        assert not part.endswith("3.") and not part.endswith("2.")


def test_cjk_splits_after_punctuation_then_between_characters():
    text = "今天天气很好，我们去公园散步吧。" * 4
    parts = split_text(text, 40)
    assert_valid(text, parts, 40)
    assert all(p.endswith(("。", "，")) for p in parts[:-1])
    plain = "这是一个没有任何标点符号的非常长的中文句子需要在字符之间切分才能发送出去" * 2
    parts = split_text(plain, 32)
    assert_valid(plain, parts, 32)
    assert [len(p) for p in parts][:-1] == [32] * (len(parts) - 1)


def test_cjk_never_starts_a_part_with_closing_punctuation():
    text = ("他说「今天很好」。" + "我们走吧" * 3) * 5
    for part in split_text(text, 33)[1:]:
        assert part[0] not in "。」，"


def test_mixed_latin_and_cjk():
    text = "我喜欢用Python写程序，也喜欢用Rust。" * 5 + " And some English at the end of it."
    assert_valid(text, split_text(text, 40), 40)


def test_pause_marker_is_never_cut_nor_left_at_an_edge():
    text = "Here is a sentence. <#1.5#> Another sentence follows. " * 4
    parts = split_text(text, 60)
    assert_valid(text, parts, 60)
    for part in parts:
        assert not part.strip().startswith("<#") and not part.strip().endswith("#>")


def test_pronunciation_stays_with_its_word():
    text = "Say the word tomato(/təˈmɑːtoʊ/) slowly and then 处理(chu3)(li3) again. " * 3
    parts = split_text(text, 50)
    assert_valid(text, parts, 50)
    for part in parts:
        assert not part.startswith("(")


def test_a_word_longer_than_the_limit_is_cut_as_a_last_resort():
    url = "https://example.com/" + "a" * 100
    text = f"See {url} for details."
    parts = split_text(text, 40)
    assert_valid(text, parts, 40)
    assert parts[0] == "See "


def test_marker_only_text_between_long_words_is_merged_not_alone():
    text = "a" * 31 + " <#1#> " + "b" * 31
    parts = split_text(text, 32)
    assert_valid(text, parts, 32)
    assert all(MARKER.sub("", p).strip() for p in parts)


def test_long_blank_run_is_split_when_nothing_else_fits():
    text = "word" + " " * 80 + "word"
    parts = split_text(text, 32)
    assert_valid(text, parts, 32)


def test_edge_pauses_are_taken_out():
    assert edge_pauses("<#1.5#> hello there <#0.25#> ") == (1.5, "hello there", 0.25)
    assert edge_pauses("hello <#2#> there") == (0.0, "hello <#2#> there", 0.0)


def test_a_full_size_request_splits_fast():
    text = ("A sentence of ordinary length, with a clause, ends here. " * 200).strip()
    parts = split_text(text, catalog.T2A_MAX_CHARS)
    assert "".join(parts) == text and len(parts) == 2
    parts = split_text(text, 3000)
    assert len(parts) == 4 and all(p.endswith(". ") for p in parts[:-1])


# --------------------------------------------------------------- properties ----

WORDS = st.sampled_from(
    ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dogs", "antidisestablishment", "a", "I"]
)
CJK = st.text(alphabet="我们今天去公园散步天气很好处理的文本こんにちは한국어", min_size=1, max_size=12)
PUNCT = st.sampled_from(
    [". ", ", ", "! ", "? ", "; ", ": ", "… ", "—", "。", "，", "、", "！", "」", "「", '"']
)
SPACE = st.sampled_from([" ", " ", " ", "\n", "\n\n", "  ", "\t"])
MARK = st.sampled_from(["<#1.5#>", "<#0.2#>", "<#10#>", "<#99.99#>"])
PRON = st.sampled_from(["(/təˈmɑːtoʊ/)", "(chu3)(li3)", "(laughs)", "(he2)", "(/ɪ/)"])


@st.composite
def texts(draw) -> str:
    out: list[str] = []
    marker_ok = False  # MiniMax: a marker goes between speakable text, never two in a row
    for _ in range(draw(st.integers(1, 120))):
        kind = draw(st.sampled_from(["word", "word", "word", "cjk", "punct", "space", "marker", "pron"]))
        if kind == "word":
            out.append(draw(WORDS))
            marker_ok = True
        elif kind == "cjk":
            out.append(draw(CJK))
            marker_ok = True
        elif kind == "punct":
            out.append(draw(PUNCT))
        elif kind == "space":
            out.append(draw(SPACE))
        elif kind == "marker" and marker_ok:
            out.append(f" {draw(MARK)} ")
            marker_ok = False
        elif kind == "pron" and out:
            out.append(draw(PRON))
        if kind in ("word", "cjk") and draw(st.booleans()):
            out.append(" ")
    return "".join(out)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(texts(), st.integers(32, 200))
def test_property_parts_join_back_fit_and_keep_atoms_whole(text, max_chars):
    parts = split_text(text, max_chars)
    assert_valid(text, parts, max_chars)
    if len(text) > max_chars:
        for part in parts:
            assert part.strip(), "blank part"
            assert MARKER.sub("", part).strip(), f"part is only a marker: {part!r}"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=600), st.integers(32, 120))
def test_property_any_unicode_text_joins_back_and_fits(text, max_chars):
    parts = split_text(text, max_chars)
    assert "".join(parts) == text
    assert all(0 < len(p) <= max_chars for p in parts)
