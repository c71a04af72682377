"""The contrastive loss: known values on 2x2 batches, identical captions as shared
positives, soft targets from caption token sets."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn.functional import normalize

from ingest.training import loss as loss_module
from ingest.training.loss import ClipLoss, soft_targets, token_bags

EYE = torch.eye(2)


def test_two_distinct_pairs_give_the_softmax_cross_entropy_of_the_logits():
    # logits = I: each row puts e^1 on its pair and e^0 on the other.
    loss = ClipLoss()(EYE, EYE, torch.tensor(1.0), torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)))
    # A larger scale makes the same embeddings more certain.
    sharper = ClipLoss()(EYE, EYE, torch.tensor(5.0), torch.tensor([0, 1]))
    assert sharper.item() == pytest.approx(math.log(1 + math.exp(-5)))


def test_identical_captions_share_the_target_of_their_row():
    # ids equal: target 1/2 on each column, so the loss is log(e + 1) - 1/2.
    loss = ClipLoss()(EYE, EYE, torch.tensor(1.0), torch.tensor([0, 0]))
    assert loss.item() == pytest.approx(math.log(math.e + 1) - 0.5)


def test_loss_is_ln_batch_for_equal_logits_and_has_no_gradient_between_duplicates():
    img = normalize(torch.ones(4, 8), dim=1)
    ids = torch.arange(4)
    assert ClipLoss()(img, img, torch.tensor(10.0), ids).item() == pytest.approx(math.log(4))
    # Two photos with one caption: matching either is right, so a model that cannot tell
    # them apart is at the optimum (no gradient), not pushed to separate them.
    text = torch.eye(4)[[0, 0, 1, 2]]
    text[0, 3], text[1, 3] = 0.1, -0.1  # the two captions' vectors differ a little

    def grad(ids):
        img = torch.eye(4)[[0, 0, 1, 2]].requires_grad_()
        ClipLoss()(img, text, torch.tensor(20.0), ids).backward()
        return img.grad.norm().item()

    assert grad(torch.tensor([0, 0, 1, 2])) < 1e-6 < grad(ids)


def test_soft_targets_spread_over_captions_with_the_same_tokens():
    ids = torch.tensor([0, 1])
    same_tokens = normalize(torch.ones(2, 3), dim=1)
    # Full soft weight, identical token sets: the rows are 1/2 1/2, as for identical ids.
    soft = ClipLoss(soft_weight=1.0)(EYE, EYE, torch.tensor(1.0), ids, same_tokens)
    assert soft.item() == pytest.approx(math.log(math.e + 1) - 0.5)
    # Without token rows, or with weight 0, it is plain InfoNCE.
    plain = math.log(1 + math.exp(-1))
    no_bags = ClipLoss(soft_weight=1.0)(EYE, EYE, torch.tensor(1.0), ids)
    assert no_bags.item() == pytest.approx(plain)
    hard = ClipLoss(soft_weight=0.0)(EYE, EYE, torch.tensor(1.0), ids, same_tokens)
    assert hard.item() == pytest.approx(plain)
    # Half weight: rows (3/4, 1/4).
    half = ClipLoss(soft_weight=0.5)(EYE, EYE, torch.tensor(1.0), ids, same_tokens)
    log_p, log_q = -math.log(1 + math.exp(-1)), -math.log(1 + math.e)
    assert half.item() == pytest.approx(-(0.75 * log_p + 0.25 * log_q))


def test_soft_targets_are_computed_in_float32_under_bf16_autocast(monkeypatch):
    ids = torch.tensor([0, 1, 2])
    bags = normalize(torch.tensor([[1.0, 0.3, 0.0], [0.9, 0.4, 0.1], [0.0, 0.2, 1.0]]), dim=1)
    expected = soft_targets(ids, bags, 0.5)
    seen = []

    def spy(*args, **kwargs):
        seen.append(soft_targets(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(loss_module, "soft_targets", spy)
    emb = normalize(torch.rand(3, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ClipLoss(soft_weight=0.5)(emb, emb, torch.tensor(10.0), ids, bags)
    assert len(seen) == 1 and torch.equal(seen[0], expected)


def test_soft_targets_favour_captions_sharing_visible_attributes_over_a_brand():
    from transformers import BertTokenizerFast

    from ingest.models.architectures import caption_vocab

    caps = [
        "Puma 男士黑色运动鞋",
        "Nike 男士黑色运动鞋",
        "Puma 女士红色手提包",
        "Puma 男士黑色运动鞋",
    ]
    vocab = caption_vocab(caps)
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    ids = tok(caps, padding=True, return_tensors="pt")["input_ids"]
    bags = token_bags(ids, len(tok), set(tok.all_special_ids))
    t = soft_targets(torch.tensor([0, 1, 2, 0]), bags, 0.5)
    # Row 0: the identical caption (row 3) shares the hard half; of the rest, the Nike shoe of
    # the same type, gender and colour gets far more than the Puma handbag.
    assert t[0, 0] == pytest.approx(t[0, 3]) and t[0, 0] > t[0, 1] > 5 * t[0, 2]
    assert torch.allclose(t.sum(1), torch.ones(4))
