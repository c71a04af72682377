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
