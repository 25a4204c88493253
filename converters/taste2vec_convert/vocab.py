"""Learn the student's WordPiece vocabulary (Hangul + English) from a text corpus, deterministically.

Words come from the SDK's own pre-tokenizer (``taste2vec.tokenizer.pre_tokenize``), so training and
inference split text identically. The vocabulary is:

1. ``[PAD]``, ``[UNK]``;
2. a fixed alphabet, each as a word-initial piece and as a ``##`` continuation: printable ASCII (lower-case), Latin-1
   lower-case letters, the 2,350 Hangul syllables of KS X 1001 (the everyday set), and the compatibility jamo
   (``ㅋㅋ``, ``ㅎㅎ``);
3. learned pieces: every word-initial prefix and ``##`` continuation substring (2..``max_piece_chars``
   characters) of the corpus words, scored by frequency x (length - 1) (the characters a piece saves),
   best first, ties broken by the piece itself.

(HuggingFace's WordPiece trainer was tried first: its tie-breaking follows hash-map order, so two runs on the
same corpus gave different vocabularies. This scorer is deterministic and a few dozen lines.)
Inference is the SDK's greedy longest-match (``taste2vec.tokenizer.WordPieceTokenizer``).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from taste2vec.lexicon import normalize_text
from taste2vec.tokenizer import PAD, UNK, WordPieceTokenizer, pre_tokenize


def word_counts(texts: Iterable[str]) -> Counter[str]:
    """Pre-tokenized word frequencies of ``texts``."""
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(pre_tokenize(normalize_text(t)))
    return counts


def base_alphabet() -> list[str]:
    """The fixed characters every vocabulary holds (see module docs), in code-point order."""
    chars = [chr(c) for c in range(0x21, 0x7F) if not chr(c).isupper()]
    chars += [chr(c) for c in range(0xDF, 0x100) if chr(c).isalpha()]
    # KS X 1001's 2,350 syllables are exactly those with a two-byte EUC-KR code (the others need 8-byte
    # make-up sequences)
    chars += [chr(c) for c in range(0xAC00, 0xD7A4) if len(chr(c).encode("euc_kr")) == 2]
    chars += [chr(c) for c in range(0x3131, 0x318F)]
    # what the tokenizer sees is NFKC-normalized (compatibility jamo become conjoining jamo, for instance)
    out: list[str] = []
    for ch in chars:
        n = normalize_text(ch)
        if len(n) == 1 and n not in out:
            out.append(n)
    return out


def train_wordpiece(texts: Iterable[str], vocab_size: int = 8192, buckets: Sequence[int] = (16, 32, 64),
                    min_frequency: int = 2, extra_words: Iterable[str] = (), max_word_chars: int = 24,
                    max_piece_chars: int = 10, version: str = "1.0.0") -> WordPieceTokenizer:
    """Learn a vocabulary of exactly ``vocab_size`` entries (fewer if the corpus runs out of pieces).

    ``extra_words`` (e.g. every lexicon term) count ``min_frequency`` times each so rare sensory terms
    still get whole-word pieces.
    """
    counts = word_counts(texts)
    for w in extra_words:
        for piece in pre_tokenize(normalize_text(w)):
            counts[piece] += min_frequency
    vocab: list[str] = [PAD, UNK]
    seen = set(vocab)
    for ch in base_alphabet():
        for piece in (ch, "##" + ch):
            if piece not in seen:
                seen.add(piece)
                vocab.append(piece)
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is smaller than the base alphabet ({len(vocab)})")
    freq: Counter[str] = Counter()
    for w, c in counts.items():
        if len(w) > max_word_chars:
            continue
        for j in range(2, min(len(w), max_piece_chars) + 1):
            freq[w[:j]] += c
        for i in range(1, len(w)):
            for j in range(i + 2, min(len(w), i + max_piece_chars) + 1):
                freq["##" + w[i:j]] += c
    scored = sorted(((c * (len(p.removeprefix("##")) - 1), p) for p, c in freq.items()
                     if c >= min_frequency and p not in seen), key=lambda sp: (-sp[0], sp[1]))
    vocab += [p for _, p in scored[:vocab_size - len(vocab)]]
    return WordPieceTokenizer(vocab=vocab, buckets=tuple(buckets), max_word_chars=max_word_chars, version=version)


def coverage(tokenizer: WordPieceTokenizer, texts: Iterable[str]) -> dict[str, float]:
    """Share of tokens that are [UNK], mean tokens per text and share of texts cut at ``max_tokens``."""
    n_tok = n_unk = n_txt = n_trunc = 0
    for t in texts:
        toks = tokenizer.tokenize(t)
        n_txt += 1
        n_tok += len(toks)
        n_unk += sum(1 for x in toks if x == UNK)
        n_trunc += len(toks) > tokenizer.max_tokens
    return {"unk_rate": n_unk / max(1, n_tok), "mean_tokens": n_tok / max(1, n_txt),
            "truncated_rate": n_trunc / max(1, n_txt), "texts": n_txt}
