"""Session-parallel losses over distinct candidates vs. a naive reference over the full candidate
list with repeats, one hand-computed value per loss, and the negative-sample store."""


import numpy as np
import pytest
import torch

from rnnrec.session_losses import (
    SampleStore,
    bpr_max,
    bpr_max_grad,
    bpr_max_grad_torch,
    cross_entropy_logq,
    cross_entropy_logq_grad,
    top1_max,
)

# --- naive references: columns = the B targets then the n_sample samples, row i's positive is column i


def naive_cross_entropy(full, log_q_full=None, logq=0.0):
    logits = full if not logq else full - logq * log_q_full
    B = full.shape[0]
    return -torch.log_softmax(logits, dim=1)[torch.arange(B), torch.arange(B)].mean()


def _naive_negative_weights(full):
    B, C = full.shape
    not_self = torch.ones(B, C, dtype=torch.bool)
    not_self[torch.arange(B), torch.arange(B)] = False
    w = torch.softmax(full.masked_fill(~not_self, float("-inf")), dim=1)
    target = full[torch.arange(B), torch.arange(B)].unsqueeze(1)
    return target, w


def naive_bpr_max(full, bpreg):
    target, w = _naive_negative_weights(full)
    ranking = -torch.log((w * torch.sigmoid(target - full)).sum(1) + 1e-24)
    return (ranking + bpreg * (w * full.square()).sum(1)).mean()


def naive_top1_max(full):
    target, w = _naive_negative_weights(full)
    return (w * (torch.sigmoid(full - target) + torch.sigmoid(full.square()))).sum(1).mean()


# --- one batch, scored both ways against a shared item-vector tensor


N_ITEMS, H = 9, 4
ALPHA = 0.75  # sample_alpha: the extra negatives are drawn from popularity^ALPHA


def _tensors(seed=0):
    g = torch.Generator().manual_seed(seed)
    vectors = torch.randn(N_ITEMS, H, generator=g, dtype=torch.float64)
    bias = torch.randn(N_ITEMS, generator=g, dtype=torch.float64)
    outputs = torch.randn(5, H, generator=g, dtype=torch.float64)
    probs = torch.rand(N_ITEMS, generator=g, dtype=torch.float64) + 0.1
    return vectors, bias, outputs, torch.log(probs / probs.sum())


def _both_ways(loss_name, targets, samples, logq=0.0, bpreg=0.0, seed=0):
    """(naive loss, distinct loss, naive d/dvectors, distinct d/dvectors, naive d/doutputs, distinct d/doutputs)."""
    vectors, bias, outputs, log_q = _tensors(seed)
    targets, samples = torch.tensor(targets), torch.tensor(samples, dtype=torch.long)
    B = len(targets)
    candidates = torch.cat([targets, samples])
    results = []
    for mode in ("naive", "distinct"):
        v = vectors.clone().requires_grad_()
        o = outputs[:B].clone().requires_grad_()
        if mode == "naive":
            full = o @ v[candidates].T + bias[candidates]
            if loss_name == "cross-entropy":
                # in-batch columns corrected by popularity, sampled ones by popularity^alpha
                column_log_q = torch.cat([log_q[targets], ALPHA * log_q[samples]])
                loss = naive_cross_entropy(full, column_log_q, logq)
            elif loss_name == "bpr-max":
                loss = naive_bpr_max(full, bpreg)
            else:
                loss = naive_top1_max(full)
        else:  # as the trainer does it
            uniq, inverse = torch.unique(candidates, return_inverse=True)
            counts = torch.bincount(inverse, minlength=len(uniq)).to(torch.float64)
            positives = inverse[:B]
            scores = o @ v[uniq].T + bias[uniq]  # scores[:, u] = score of item uniq[u]
            if loss_name == "cross-entropy":
                batch_counts = torch.bincount(inverse[:B], minlength=len(uniq)).to(torch.float64)
                sample_counts = counts - batch_counts
                loss = cross_entropy_logq(scores, positives, batch_counts, sample_counts, log_q[uniq], logq, ALPHA)
            elif loss_name == "bpr-max":
                loss = bpr_max(scores, positives, counts, bpreg)
            else:
                loss = top1_max(scores, positives, counts)
        loss.backward()
        results.append((loss.detach(), v.grad, o.grad))
    (ln, gvn, gon), (ld, gvd, god) = results
    return ln, ld, gvn, gvd, gon, god


# Each case: (targets, samples). "plain": all candidates distinct; the others repeat items.
CASES = {
    "plain": ([1, 2, 3, 4], [5, 6, 7]),
    "target twice in batch": ([1, 2, 1, 4], [5, 6]),
    "sample equals a target": ([1, 2, 3], [2, 5, 6]),
    "repeated sample": ([1, 2, 3], [6, 6, 8, 6]),
    "everything repeats": ([3, 3, 2, 3, 7], [3, 7, 7, 8, 2]),
    "no samples": ([4, 1, 8], []),
}
REPEATS = [k for k in CASES if k not in ("plain", "no samples")]
# cases where some row's target item occurs more than once among the candidates
REPEATED_TARGET = [k for k in REPEATS if any((CASES[k][0] + CASES[k][1]).count(t) > 1 for t in CASES[k][0])]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("loss_name,kwargs", [("bpr-max", {"bpreg": 0.0}), ("bpr-max", {"bpreg": 0.7}), ("top1-max", {})])
def test_pairwise_losses_match_naive_reference(case, loss_name, kwargs):
    ln, ld, gvn, gvd, gon, god = _both_ways(loss_name, *CASES[case], **kwargs)
    assert torch.allclose(ln, ld, rtol=1e-12, atol=1e-12)
    assert torch.allclose(gvn, gvd, rtol=1e-10, atol=1e-12)
    assert torch.allclose(gon, god, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", [k for k in CASES if k not in REPEATED_TARGET])
@pytest.mark.parametrize("logq", [0.0, 1.0, 0.5])
def test_cross_entropy_matches_naive_reference_without_repeated_targets(case, logq):
    ln, ld, gvn, gvd, gon, god = _both_ways("cross-entropy", *CASES[case], logq=logq)
    assert torch.allclose(ln, ld, rtol=1e-12, atol=1e-12)
    assert torch.allclose(gvn, gvd, rtol=1e-10, atol=1e-12)
    assert torch.allclose(gon, god, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", REPEATS)
@pytest.mark.parametrize("logq", [0.0, 1.0])
def test_cross_entropy_gradient_matches_naive_reference_with_repeats(case, logq):
    _, _, gvn, gvd, gon, god = _both_ways("cross-entropy", *CASES[case], logq=logq)
    assert torch.allclose(gvn, gvd, rtol=1e-10, atol=1e-12)
    assert torch.allclose(gon, god, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", REPEATED_TARGET)
def test_cross_entropy_value_with_repeats_matches_naive_reference(case):
    ln, ld, *_ = _both_ways("cross-entropy", *CASES[case])
    assert torch.allclose(ln, ld, rtol=1e-12, atol=1e-12)


def _distinct_scores(targets, samples, seed=0):
    """Random scores over the distinct candidates of a case, with the trainer's counts."""
    targets, samples = torch.tensor(targets), torch.tensor(samples, dtype=torch.long)
    uniq, inverse = torch.unique(torch.cat([targets, samples]), return_inverse=True)
    B = len(targets)
    scores = torch.randn(B, len(uniq), generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2
    batch_counts = torch.bincount(inverse[:B], minlength=len(uniq)).to(torch.float64)
    sample_counts = torch.bincount(inverse[B:], minlength=len(uniq)).to(torch.float64)
    return scores, inverse[:B], batch_counts, sample_counts


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("bpreg", [0.0, 1.95])
@pytest.mark.parametrize("written_out", [bpr_max_grad, bpr_max_grad_torch])
def test_written_out_bpr_max_gradient_equals_autograd(case, bpreg, written_out):
    """Both forms: the CPU's (torch exponentials, then one fused loop per row) and the torch
    operations a GPU runs."""
    scores, positives, batch_counts, sample_counts = _distinct_scores(*CASES[case])
    leaf = scores.clone().requires_grad_()
    expected = bpr_max(leaf, positives, batch_counts + sample_counts, bpreg)
    expected.backward()
    loss, grad = written_out(scores.clone(), positives, batch_counts + sample_counts, bpreg)
    assert float(loss) == pytest.approx(float(expected.detach()), rel=1e-12, abs=1e-12)
    assert torch.allclose(grad, leaf.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("written_out", [bpr_max_grad, bpr_max_grad_torch])
def test_written_out_bpr_max_without_negatives_is_zero(written_out):
    loss, grad = written_out(torch.tensor([[0.7]]), torch.tensor([0]), torch.tensor([1.0]), 0.5)
    assert float(loss) == 0.0 and torch.equal(grad, torch.zeros(1, 1))


def test_fused_bpr_max_stays_float32_and_equals_the_torch_form():
    """The training step's size (80 rows, ~1,100 distinct candidates, repeated counts) in float32:
    the fused loop returns float32 and agrees with the torch operations to float32 rounding.
    Data: generated."""
    g = torch.Generator().manual_seed(7)
    scores = torch.randn(80, 1100, generator=g) * 3
    positives = torch.randint(0, 1100, (80,), generator=g)
    counts = torch.randint(1, 5, (1100,), generator=g).float()
    loss, grad = bpr_max_grad(scores.clone(), positives, counts, 1.95)
    want_loss, want_grad = bpr_max_grad_torch(scores.clone(), positives, counts, 1.95)
    assert grad.dtype == torch.float32 and loss.dtype == torch.float32
    assert float(loss) == pytest.approx(float(want_loss), rel=1e-5)
    torch.testing.assert_close(grad, want_grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("logq", [0.0, 1.0])
def test_written_out_cross_entropy_gradient_equals_autograd(case, logq):
    scores, positives, batch_counts, sample_counts = _distinct_scores(*CASES[case])
    log_pop = torch.randn(scores.shape[1], generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    leaf = scores.clone().requires_grad_()
    expected = cross_entropy_logq(leaf, positives, batch_counts, sample_counts, log_pop, logq, ALPHA)
    expected.backward()
    loss, grad = cross_entropy_logq_grad(scores.clone(), positives, batch_counts, sample_counts, log_pop, logq, ALPHA)
    assert float(loss) == pytest.approx(float(expected.detach()), rel=1e-12, abs=1e-12)
    assert torch.allclose(grad, leaf.grad, rtol=1e-10, atol=1e-12)


# --- hand-computed values


def test_hand_computed_values_two_rows_no_samples():
    # B = 2, no samples, candidates = the two (distinct) targets; row i's positive is column i.
    scores = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    positives, counts = torch.tensor([0, 1]), torch.tensor([1.0, 1.0], dtype=torch.float64)
    # CE: row 0 = -log(e^1 / (e^1 + e^0)) = log(1 + e^-1) = 0.3132616875
    #     row 1 = -log(e^2 / (e^0 + e^2)) = log(1 + e^-2) = 0.1269280110 -> mean 0.2200948493
    ce = cross_entropy_logq(scores, positives, counts, torch.zeros(2, dtype=torch.float64))
    assert float(ce) == pytest.approx(0.2200948493, abs=1e-10)
    # BPR-max: each row has one negative (weight 1): row 0 = -log σ(1 - 0), row 1 = -log σ(2 - 0),
    # the same numbers as above; the regulariser adds bpreg * (negative score)^2 = 0 in both rows.
    assert float(bpr_max(scores, positives, counts, bpreg=0.5)) == pytest.approx(0.2200948493, abs=1e-10)
    # TOP1-max: row 0 = σ(0 - 1) + σ(0^2) = 0.2689414214 + 0.5
    #           row 1 = σ(0 - 2) + σ(0^2) = 0.1192029220 + 0.5 -> mean 0.6940721717
    assert float(top1_max(scores, positives, counts)) == pytest.approx(0.6940721717, abs=1e-10)


def test_hand_computed_bpr_max_regulariser_and_logq():
    # One row, target column 0 (score 0), one negative item (score 1) occurring twice (count 2)
    # -> weight 1 on it: loss = -log σ(0 - 1) + bpreg * 1^2 = 1.3132616875 + 0.25
    scores = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    counts = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert float(bpr_max(scores, torch.tensor([0]), counts, bpreg=0.25)) == pytest.approx(1.5632616875, abs=1e-10)
    # CE with logQ, the target in-batch and the other item sampled twice (alpha 1):
    # logits = s + log(count) - logq * log q = [0 + 0 - 0.5 log .5, 1 + log 2 - 0.5 log .25]
    #   = [0.3465735903, 2.3862943611] -> -log softmax[0] = log(1 + e^2.0397207708) = log(8.6884601) = 2.1619959451
    log_q = torch.log(torch.tensor([0.5, 0.25], dtype=torch.float64))
    batch_counts = torch.tensor([1.0, 0.0], dtype=torch.float64)
    ce = cross_entropy_logq(scores, torch.tensor([0]), batch_counts, counts - batch_counts, log_q, logq=0.5)
    assert float(ce) == pytest.approx(2.1619959451, abs=1e-9)


def test_logq_is_ignored_without_log_probabilities():
    scores = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    counts = torch.ones(2)
    zeros = torch.zeros(2)
    a = cross_entropy_logq(scores, torch.tensor([0, 1]), counts, zeros, None, logq=1.0)
    b = cross_entropy_logq(scores, torch.tensor([0, 1]), counts, zeros, None, logq=0.0)
    assert float(a) == float(b)


# --- SampleStore


COUNTS = np.array([0, 5, 0, 1, 10, 0, 3])  # padding row 0 and items 2, 5 never drawn


def test_sample_store_probabilities_and_zero_counts():
    store = SampleStore(COUNTS, n_sample=4, alpha=0.5)
    w = np.where(COUNTS > 0, COUNTS.astype(float) ** 0.5, 0.0)
    assert np.allclose(store.probabilities.numpy(), w / w.sum(), atol=1e-7)
    assert store.probabilities[[0, 2, 5]].tolist() == [0.0, 0.0, 0.0]


def test_sample_store_empirical_frequencies():
    store = SampleStore(COUNTS, n_sample=1000, alpha=0.75, store_size=50_000,
                        generator=torch.Generator().manual_seed(123))
    drawn = torch.cat([store.next() for _ in range(200)])  # 200k draws, four refills
    assert drawn.shape == (200_000,) and drawn.dtype == torch.long
    freq = np.bincount(drawn.numpy(), minlength=len(COUNTS)) / drawn.numel()
    assert freq[[0, 2, 5]].tolist() == [0.0, 0.0, 0.0]
    w = np.where(COUNTS > 0, COUNTS.astype(float) ** 0.75, 0.0)
    assert np.allclose(freq, w / w.sum(), atol=0.005)


def test_sample_store_never_draws_zero_count_items_at_the_ends():
    counts = np.array([0, 0, 4, 0, 1, 0, 0])  # zero counts before, between and after
    store = SampleStore(counts, n_sample=500, alpha=1.0, store_size=20_000, generator=torch.Generator().manual_seed(0))
    drawn = torch.cat([store.next() for _ in range(40)])
    assert set(drawn.unique().tolist()) == {2, 4}


def test_count_at_most_known_answer_and_equals_searchsorted():
    """The sample store's lookup (a bucketed scan) gives exactly torch.searchsorted(right=True):
    by hand on a cumulative table with repeated values (items never drawn), queries at the values
    themselves, just below them, at 0 and at the top; then on a million generated draws."""
    from rnnrec.cpu_kernels import count_at_most

    cdf = np.array([0.0, 0.0, 0.25, 0.25, 0.5, 1.0])
    queries = np.array([0.0, 0.1, 0.25, np.nextafter(0.25, 0.0), 0.3, 0.5, 0.99, 1.0])
    out = np.empty(len(queries), np.int64)
    count_at_most(cdf, queries, out)
    assert out.tolist() == [2, 2, 4, 2, 4, 5, 5, 6]
    count_at_most(np.empty(0), queries, out)
    assert out.tolist() == [0] * len(queries)
    g = torch.Generator().manual_seed(0)
    weights = torch.rand(12_000, generator=g, dtype=torch.float64) ** 8  # many tiny, a few large
    weights[torch.randint(0, 12_000, (2_000,), generator=g)] = 0.0
    table = torch.cumsum(weights / weights.sum(), 0)
    draws = torch.rand(1_000_000, generator=g, dtype=torch.float64) * table[-1]
    draws[:12_000] = table  # exactly at every value
    out = np.empty(len(draws), np.int64)
    count_at_most(table.numpy(), draws.numpy(), out)
    assert np.array_equal(out, torch.searchsorted(table, draws, right=True).numpy())


def test_sample_store_same_seed_same_samples():
    def draws(seed):
        store = SampleStore(COUNTS, n_sample=7, alpha=0.75, store_size=30, generator=torch.Generator().manual_seed(seed))
        return torch.stack([store.next() for _ in range(12)])  # spans several refills

    assert torch.equal(draws(5), draws(5))
    assert not torch.equal(draws(5), draws(6))


def test_sample_store_refills_after_per_fill_steps():
    store = SampleStore(COUNTS, n_sample=3, alpha=1.0, store_size=10, generator=torch.Generator().manual_seed(0))
    assert store.per_fill == 3  # 10 // 3 steps per refill
    fills = []
    original = store._fill

    def counting_fill():
        fills.append(len(steps))
        original()

    store._fill = counting_fill
    steps = []
    for _ in range(7):
        steps.append(store.next())
        assert steps[-1].shape == (3,)
    # refills before steps 0, 3 and 6 (the count is how many steps were already handed out)
    assert fills == [0, 3, 6]


def test_sample_store_without_samples():
    store = SampleStore(COUNTS, n_sample=0, alpha=0.75)
    out = store.next()
    assert out.shape == (0,) and out.dtype == torch.long
    assert store.next().numel() == 0


def test_sample_store_needs_a_positive_count():
    with pytest.raises(ValueError, match="positive count"):
        SampleStore(np.array([0, 0, 0]), n_sample=2, alpha=0.75)


# --- rows without negatives (B = 1, no samples: the tail of a session-parallel epoch with n_sample = 0)


@pytest.mark.parametrize("loss_name", ["bpr-max", "top1-max"])
def test_pairwise_loss_gradient_is_finite_for_a_row_without_negatives(loss_name):
    scores = torch.tensor([[0.3, 0.1]], dtype=torch.float64, requires_grad=True)
    counts = torch.tensor([1.0, 0.0], dtype=torch.float64)  # the target only (+ an input-only row)
    loss = bpr_max(scores, torch.tensor([0]), counts, 0.0) if loss_name == "bpr-max" else top1_max(scores, torch.tensor([0]), counts)
    loss.backward()
    assert torch.isfinite(scores.grad).all()


def test_logq_correction_uses_plain_popularity_not_the_sampling_exponent():
    # In-batch negatives are the other targets, drawn as often as items occur: log q = log(count)
    # (unnormalised; the sampled columns get alpha * log(count) in the loss).
    store = SampleStore(np.array([0, 1, 3]), n_sample=2, alpha=0.5)
    expected = torch.log(torch.tensor([1e-30, 1.0, 3.0]))
    assert torch.allclose(store.log_popularity, expected)
