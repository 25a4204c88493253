"""The on-device WordPiece tokenizer (rules in taste2vec/tokenizer.py) and its deterministic vocabulary."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taste2vec.lexicon import normalize_text, text_chunks
from taste2vec.tokenizer import PAD, UNK, TokenizerError, WordPieceTokenizer, pre_tokenize

VOCAB = [PAD, UNK, "bright", "jas", "##mine", "자스민", "##향", "##이", "산미", "##가", ".", ",", "!", "a", "##b",
         "b", "##c"]


@pytest.fixture()
def tok():
    return WordPieceTokenizer(VOCAB, buckets=(4, 8))


def test_pre_tokenize_splits_scripts_and_punctuation():
    assert pre_tokenize("bright,자스민향이!  ok2") == ["bright", ",", "자스민향이", "!", "ok2"]
    assert pre_tokenize("café밝음") == ["café", "밝음"]  # Latin run then Hangul run
    assert pre_tokenize("") == [] and pre_tokenize("   ") == []


def test_greedy_longest_match_with_continuations(tok):
    assert tok.tokenize("Jasmine 자스민향이, BRIGHT!") == ["jas", "##mine", "자스민", "##향", "##이", ",", "bright", "!"]


def test_unknown_characters_become_single_unk_and_scan_continues(tok):
    # 'x' is not in the vocabulary: only that character is [UNK], the known pieces around it survive
    assert tok.tokenize("axb") == ["a", UNK, "##b"]
    assert tok.tokenize("z" * 30) == [UNK]  # longer than max_word_chars


def test_buckets_padding_and_truncation(tok):
    assert tok.bucket_for(0) == 4 and tok.bucket_for(4) == 4 and tok.bucket_for(5) == 8 and tok.bucket_for(99) == 8
    ids = tok.encode_padded("bright .")
    assert ids.dtype == np.int32 and ids.tolist() == [2, 10, 0, 0]
    long = tok.encode("bright " * 20)
    assert long.truncated and len(long.ids) == 8
    batch = tok.encode_batch(["bright", "bright bright bright bright bright"])
    assert batch.shape == (2, 8) and batch[0, 1] == 0


def test_file_round_trip_and_malformed_files(tok, tmp_path):
    path = tok.save(tmp_path / "t.json")
    again = WordPieceTokenizer.load(path)
    assert again.vocab == tok.vocab and again.buckets == tok.buckets
    d = json.loads(path.read_text())
    d["format"] = "something/else"
    path.write_text(json.dumps(d))
    with pytest.raises(TokenizerError, match="format"):
        WordPieceTokenizer.load(path)
    with pytest.raises(TokenizerError, match="start with"):
        WordPieceTokenizer(["a", UNK])
    with pytest.raises(TokenizerError, match="duplicate"):
        WordPieceTokenizer([PAD, UNK, "a", "a"])


def test_trained_vocabulary_is_deterministic_bounded_and_covers_both_languages():
    from taste2vec_convert.vocab import coverage, train_wordpiece

    texts = ["밝은 산미와 자스민향이 좋아요", "bright jasmine and juicy peach", "초콜릿 같은 바디감, heavy body"] * 5
    a = train_wordpiece(texts, vocab_size=6000, extra_words=["블루베리"])
    b = train_wordpiece(list(texts), vocab_size=6000, extra_words=["블루베리"])
    assert a.vocab == b.vocab and a.vocab_size <= 6000
    assert "jasmine" in a.vocab and "블루베리" in a.vocab
    unseen = ["은은하고 새콤한 맛이 나요 ㅋㅋ", "Floral, tea-like; 92 points!"]
    assert coverage(a, unseen)["unk_rate"] == 0.0  # every everyday Hangul syllable and ASCII char is covered
    with pytest.raises(ValueError, match="alphabet"):
        train_wordpiece(texts, vocab_size=100)


def _reference_pre_tokenize(text: str) -> list[str]:
    """Rule 2 of taste2vec/tokenizer.py written as the character scan the Kotlin port implements."""
    def kind(ch: str) -> int:
        o = ord(ch)
        if ch.isspace():
            return 0
        if 0x61 <= o <= 0x7A or 0x30 <= o <= 0x39 or 0xC0 <= o <= 0x24F:
            return 1
        if 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F or 0xAC00 <= o <= 0xD7A3:
            return 2
        return 3
    words, start, cur = [], 0, 0
    for i, ch in enumerate(text):
        k = kind(ch)
        if k != cur or k == 3:
            if cur:
                words.append(text[start:i])
            start, cur = i, k
    if cur:
        words.append(text[start:])
    return words


_SPACES = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
_POOL = "abcxyz09éÀɏ가힣ᄀᆞㄱㅏ.,!?-'\"·…🫐☕①ﬁ\u200b\u00ad" + _SPACES


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(_POOL)), max_size=60))
def test_regex_pre_tokenizer_equals_the_character_scan(text):
    assert pre_tokenize(text) == _reference_pre_tokenize(text)


def test_encode_stops_at_the_token_cap_with_the_same_result(tok):
    long = "bright jasmine " * 50
    enc = tok.encode(long)
    assert enc.truncated and len(enc.ids) == tok.max_tokens
    assert list(enc.tokens) == tok.tokenize(long)[:tok.max_tokens]
    assert not tok.encode("bright jasmine").truncated


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list(_POOL) + ["\n", "\u2028", "\u3000"]), max_size=120))
def test_chunked_encode_equals_the_whole_text_rules(text):
    """encode reads whitespace-separated chunks (memoized); the result is rule 2 + 3 over the whole text."""
    shipped, index = _shipped()
    enc = shipped.encode(text)
    whole = shipped.tokenize(text)
    assert enc.tokens == tuple(whole[:shipped.max_tokens]) and enc.truncated == (len(whole) > shipped.max_tokens)
    assert enc.ids == tuple(index[t] for t in enc.tokens)
    ids, truncated = shipped.chunk_ids(text_chunks(normalize_text(text)))  # what the preprocessor feeds the model
    assert (tuple(ids), truncated) == (enc.ids, enc.truncated)


@functools.cache
def _shipped() -> tuple[WordPieceTokenizer, dict[str, int]]:
    from taste2vec import Embedder

    tok = Embedder.create_default().bundle.tokenizer
    return tok, {t: i for i, t in enumerate(tok.vocab)}
