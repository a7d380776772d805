import numpy as np, pytest, torch
from zsc_nb.fusion import to_probs, entropy, confidence, fuse, fusion_weights, CONFIDENCES

rng = np.random.default_rng(0)
def rand_probs(n=50, c=7, scale=3.0): return to_probs(rng.normal(size=(n, c)), scale)

def test_to_probs_rows_sum_to_one_and_match_torch():
    s = rng.normal(size=(20, 9)) * 10
    p = to_probs(s, 2.5)
    assert np.allclose(p.sum(1), 1) and (p >= 0).all()
    assert np.allclose(p, torch.softmax(torch.tensor(2.5 * s), 1).numpy(), atol=1e-6)

def test_to_probs_is_stable_for_huge_inputs():
    p = to_probs(np.array([[1e4, 0, -1e4]]), 100.0)
    assert np.isfinite(p).all() and np.allclose(p, [[1, 0, 0]])

def test_entropy_hand_worked():
    assert np.allclose(entropy([[1, 0, 0, 0]]), [-np.log(1 + 1e-6)], atol=1e-9)
    assert np.allclose(entropy([[.25] * 4]), [-np.log(.25 + 1e-6)])

@pytest.mark.parametrize('method,expected', [('max', [.7]), ('inv_entropy', None), ('neg_exp_entropy', None)])
def test_confidence_values(method, expected):
    p = np.array([[.7, .2, .1]]); h = -(p * np.log(p + 1e-6)).sum()
    exp = {'max': .7, 'inv_entropy': 1 / (h + 1e-6), 'neg_exp_entropy': np.exp(-h)}[method]
    assert np.allclose(confidence(p, method), [exp])

def test_confidence_orders_sure_above_unsure():
    sure, unsure = np.array([[.98, .01, .01]]), np.array([[.4, .3, .3]])
    for m in CONFIDENCES: assert confidence(sure, m)[0] > confidence(unsure, m)[0]

@pytest.mark.parametrize('n_methods', [2, 3])
def test_fixed_weights_are_a_weighted_sum(n_methods):
    ps = [rand_probs() for _ in range(n_methods)]; w = (3, 3, 4)[:n_methods]
    assert np.allclose(fuse(ps, w), sum(wi * p for wi, p in zip(w, ps)))

@pytest.mark.parametrize('weighting', list(CONFIDENCES) + [(1, 1, 1), (3, 3, 4)])
def test_normalising_weights_never_changes_argmax(weighting):
    ps = [rand_probs() for _ in range(3)]
    a, b = fuse(ps, weighting), fuse(ps, weighting, normalize=True)
    assert (a.argmax(1) == b.argmax(1)).all()
    assert np.allclose(fusion_weights(ps, weighting, normalize=True).sum(1), 1)
    assert np.allclose(b.sum(1), 1)       # a convex combination of distributions is a distribution

def test_confidence_weighting_is_per_image():
    # image 0: method A sure, image 1: method B sure; each image should follow its sure method
    A = np.array([[.98, .01, .01], [.34, .33, .33]]); B = np.array([[.3, .4, .3], [.01, .01, .98]])
    f = fuse([A, B], 'inv_entropy')
    assert f.argmax(1).tolist() == [0, 2]
    w = fusion_weights([A, B], 'inv_entropy')
    assert w[0, 0] > w[0, 1] and w[1, 1] > w[1, 0]

def test_torch_in_numpy_out():
    ps = [torch.tensor(rand_probs()) for _ in range(3)]
    assert isinstance(fuse(ps, 'max'), np.ndarray)

@pytest.mark.parametrize('bad,match', [
    (lambda: fuse([np.ones((2, 3)), np.ones((3, 3))], 'max'), 'differ in shape'),
    (lambda: fuse([np.ones((2, 3))] * 2, (1, 2, 3)), 'one per method'),
    (lambda: fuse([np.ones((2, 3))] * 2, (1, -2)), 'non-negative'),
    (lambda: fuse([np.ones((2, 3))] * 2, 'softmax'), 'Unknown confidence'),
    (lambda: to_probs(np.array([[np.nan, 1]])), 'NaN'),
    (lambda: to_probs(np.ones(3)), '2 dimensions'),
    (lambda: entropy(np.ones((0, 3))), 'empty'),
])
def test_bad_input_is_a_clear_value_error(bad, match):
    with pytest.raises(ValueError, match=match): bad()
