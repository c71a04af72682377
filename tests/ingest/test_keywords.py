"""jieba keywords → sparse vectors, shared by captions and queries."""

from ingest.keywords import sparse_vector, token_id, tokenize


def test_tokens_drop_stop_words_and_punctuation_and_lowercase_brands():
    toks = tokenize("请匹配到与 Wills Lifestyle衬衫 男士款，黑色！ 最相关的图片。")
    assert {"wills", "lifestyle", "衬衫", "男士", "黑色"} <= set(toks)
    assert not {"请", "的", "，", "！", "最", "相关", "图片", "款", " "} & set(toks)


def test_token_ids_are_stable_across_processes():
    # CRC-32 of UTF-8, masked to 31 bits: fixed values, not Python's salted hash().
    import zlib

    assert token_id("衬衫") == zlib.crc32("衬衫".encode()) & 0x7FFFFFFF
    assert token_id("nike") != token_id("衬衫")


def test_sparse_vector_counts_terms_and_query_matches_caption_terms():
    doc = sparse_vector("Nike 女士蓝色运动T恤 运动")
    assert doc.indices == sorted(doc.indices) and len(set(doc.indices)) == len(doc.indices)
    weights = dict(zip(doc.indices, doc.values, strict=True))
    assert weights[token_id("运动")] == 2.0
    query = sparse_vector("蓝色的运动T恤")
    assert set(query.indices) <= set(doc.indices)
    assert not sparse_vector("的 了 吗？")


def test_one_vocabulary_two_tiers_of_stop_words():
    from ingest.keywords import FUNCTION_WORDS, STOP_WORDS, words

    assert FUNCTION_WORDS < STOP_WORDS
    question = "请对给定的图片进行描述。"
    assert words(question, drop=FUNCTION_WORDS) == ["给定", "图片", "进行", "描述"]
    assert tokenize(question) == []  # every word is question boilerplate to keyword search


def test_extra_dictionary_words_get_their_own_tokenizer():
    from ingest.keywords import jieba_tokenizer, words

    assert jieba_tokenizer() is jieba_tokenizer()
    assert words("男女通用的吗") == ["男女", "通用", "的", "吗"]
    assert words("男女通用的吗", extra_words=("男女通用",)) == ["男女通用", "的", "吗"]
    assert tokenize("男女通用的吗") == ["男女", "通用"]  # the keyword tokenizer is unchanged
