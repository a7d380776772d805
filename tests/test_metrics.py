import numpy as np, pytest
from sklearn.metrics import roc_auc_score, roc_curve, top_k_accuracy_score
from zsc_nb.metrics import topk_accuracy, topk_accuracies, unknown_score, auroc, fpr_at_tpr

rng = np.random.default_rng(1)

@pytest.mark.parametrize('k', [1, 3, 5])
def test_topk_matches_sklearn(k):
    s = rng.normal(size=(300, 10)); y = rng.integers(0, 10, 300)
    assert np.isclose(topk_accuracy(s, y, k), top_k_accuracy_score(y, s, k=k, labels=np.arange(10)))
    assert np.isclose(topk_accuracies(s, y, (1, 3, 5))[k], top_k_accuracy_score(y, s, k=k, labels=np.arange(10)))

def test_auroc_matches_sklearn_with_ties():
    for _ in range(5):
        s = np.round(rng.normal(size=500), 1); y = rng.random(500) < .3
        assert np.isclose(auroc(s, y), roc_auc_score(y, s))

def test_fpr_at_tpr_matches_roc_curve():
    s = rng.normal(size=2000) + (y := rng.random(2000) < .4) * 1.5
    fpr, tpr, _ = roc_curve(y, s)
    assert np.isclose(fpr_at_tpr(s, y, .95), fpr[np.searchsorted(tpr, .95)], atol=1e-3)

def test_perfect_and_inverted_separation():
    y = np.array([0, 0, 1, 1]); assert auroc([0, 1, 2, 3], y) == 1 and auroc([3, 2, 1, 0], y) == 0
    assert fpr_at_tpr([0, 1, 2, 3], y) == 0

def test_authors_unknown_score_hand_worked():
    f = np.array([[.5, .2, .3, 0.]])                   # minmax: [1, .4, .6, 0] / 2
    assert np.allclose(unknown_score(f, [0, 2], 'authors'), [1 - 1.6 / 2])
    assert np.allclose(unknown_score(f, np.array([True, False, True, False])), [1 - 1.6 / 2])
    assert np.allclose(unknown_score(np.ones((1, 4)), [0]), [.75])   # a constant row is uniform

def test_msp_unknown_score_hand_worked():
    f = np.array([[.5, .2, .3, 0.]])
    assert np.allclose(unknown_score(f, [1, 2], 'msp'), [1 - .3 / .5])

def test_unknown_score_separates_when_mass_is_on_unknowns():
    f = np.array([[.9, .05, .05], [.05, .05, .9]]); known = [0, 1]
    for p in ('authors', 'msp'):
        u = unknown_score(f, known, p); assert u[1] > u[0]

@pytest.mark.parametrize('bad,match', [
    (lambda: topk_accuracy(np.ones((3, 4)), [0, 1, 4]), r'0\.\.3'),
    (lambda: topk_accuracy(np.ones((3, 4)), [0, 1]), 'length 3'),
    (lambda: topk_accuracy(np.ones((3, 4)), [0, 1, 2], k=5), 'k must be'),
    (lambda: unknown_score(np.ones((2, 4)), [], 'authors'), 'empty'),
    (lambda: unknown_score(np.ones((2, 4)), [0], 'energy'), 'Unknown protocol'),
    (lambda: auroc([1, 2], [0, 0]), 'both known and unknown'),
    (lambda: auroc([1, np.inf], [0, 1]), 'NaN or inf'),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match): bad()
