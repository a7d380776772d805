"Fair ties, exact ranking, the chunked/torch scoring paths and the similarity cache (issues 15 item 5 and 18)."
import numpy as np, pytest
from dataclasses import replace
from zsc_nb.engine import Features, evaluate, evaluate_scales, sim_cache, SimCache, method_sims, COMBOS, WEIGHTINGS, FIXED
from zsc_nb.fusion import to_probs, CONFIDENCES
from zsc_nb.metrics import topk_accuracies, rank_counts, topk_hits, at_boundary, unknown_score, roc_metrics, index_rank
from zsc_nb.scoring import exact_log_fused
from zsc_nb.bench import random_features

def feats(n=300, c=12, k=3, d=16, seed=0, dup=()):
    "Random features; classes in `dup` pairs get identical text and references (genuine ties in every method)."
    r = np.random.default_rng(seed); f = lambda *s: r.normal(size=s).astype(np.float32)
    T, R1, R2 = f(c, d), f(c * k, d), f(c * k, d + 4)
    for a, b in dup:
        T[b] = T[a]; R1[b * k:(b + 1) * k] = R1[a * k:(a + 1) * k]; R2[b * k:(b + 1) * k] = R2[a * k:(a + 1) * k]
    return Features([f'c{i}' for i in range(c)], r.integers(0, c, n), list(range(c // 2)), f(n, d), f(n, d + 4), T, R1, R2,
                    np.repeat(np.arange(c), k), np.tile(np.arange(k), c))

def constant(label:int, n=50, c=10):
    "Every test image equally similar to every class (all-zero features); all labelled `label` but the last (9 - label)."
    z = lambda *s: np.zeros(s, np.float32); y = np.full(n, label); y[-1] = c - 1 - label
    return Features([f'c{i}' for i in range(c)], y, list(range(5)), z(n, 4), z(n, 4), z(c, 4), z(c, 4), z(c, 4),
                    np.arange(c), np.zeros(c, int))

# --- the tie rule ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('label', [0, 9])
def test_all_equal_scores_give_chance_whatever_the_label(label):
    s = np.ones((40, 10)); y = np.full(40, label)
    assert topk_accuracies(s, y, (1, 3, 5)) == {1: .1, 3: .3, 5: .5}
    r = evaluate(constant(label), (100., 100., 100.), True)
    for m in ('M1', 'M2', 'M3', 'M1+M2+M3'):
        for w, v in r[m].items(): assert (v['top1'], v['top5']) == pytest.approx((.1, .5)), (m, w)
    assert r['_meta']['topk_ties']['M1']['none'] == 50     # every image sits in a tie across the top-k boundaries

def test_index_rule_is_the_authors_and_biased():
    s = np.ones((40, 10))
    assert topk_accuracies(s, np.zeros(40, int), (1,), 'index')[1] == 1 and topk_accuracies(s, np.full(40, 9), (1,), 'index')[1] == 0
    a0, a9 = (evaluate(constant(l), (1., 3., 50.), False, dtype='float32') for l in (0, 9))
    assert a0['M1']['none']['top1'] == .98 and a9['M1']['none']['top1'] == .02 and a0['_meta']['ties'] == 'index'
    assert a0['_meta']['topk_ties']['M1']['none'] == 50     # the authors' report counts the images a tie decided

def test_fair_topk_is_the_expectation_over_random_tie_breaks():
    r = np.random.default_rng(3); s = r.integers(0, 4, (200, 9)).astype(float); y = r.integers(0, 9, 200)
    sims = np.zeros((3, 200))
    for t in range(2000):                                  # break ties by a random jitter, count hits
        j = s + r.random(s.shape) * 1e-3
        rank = (j > np.take_along_axis(j, y[:, None], 1)).sum(1)
        sims[:, :] += np.array([rank < k for k in (1, 3, 5)])
    mc = sims.mean(1) / 2000
    fair = topk_accuracies(s, y, (1, 3, 5))
    assert np.allclose([fair[k] for k in (1, 3, 5)], mc, atol=0.01)

def test_hand_worked_tie_at_the_boundary():
    # true label scores .5; one class above, two tied with it: rank 2..4 → top-1 0, top-3 2/3, top-5 1
    s = np.array([[.9, .5, .5, .5, .1, .0]]); y = np.array([1])
    above, tied = rank_counts(s, y); assert (above[0], tied[0]) == (1, 2)
    assert topk_accuracies(s, y, (1, 3, 5)) == pytest.approx({1: 0., 3: 2 / 3, 5: 1.})
    assert at_boundary(above, tied).tolist() == [True] and index_rank(s, y).tolist() == [1]

def test_roc_metrics_count_ties_half_as_sklearn():
    from sklearn.metrics import roc_auc_score, roc_curve
    r = np.random.default_rng(5)
    for _ in range(5):
        s = np.round(r.normal(size=400), 1); y = r.random(400) < .3
        a, f = roc_metrics(s, y)
        assert a == pytest.approx(roc_auc_score(y, s)) and 0 <= f <= 1
    assert roc_metrics([.5] * 4, [0, 0, 1, 1]) == (.5, 1.)

# --- exact ranking: no underflow ties -----------------------------------------------------------------------------
def test_single_method_topk_does_not_fall_as_its_scale_rises():
    F = random_features(400, 50, 2, 32, 32, seed=1)
    clean = [evaluate(F, (s, s, s), True, combos=('M1', 'M2', 'M3'))['M2']['none']['top5'] for s in (1, 100, 1e4, 1e6)]
    assert len(set(clean)) == 1                          # a ranking does not depend on a monotone rescaling
    authors = [evaluate(F, (s, s, s), True, combos=('M2',), dtype='float32')['M2']['none']['top5'] for s in (1, 1e4, 1e6)]
    assert authors[-1] < authors[0] and authors[0] == clean[0]   # float32 probabilities underflow to ties at the lowest index

def test_fused_ranking_is_exact_at_huge_scales():
    F = feats(200, 12, seed=2, dup=((1, 2),))
    r = evaluate(F, (1e3, 2e3, 5e3), True)
    ref = _reference(F, (1e3, 2e3, 5e3))
    for m in COMBOS:
        for w in r[m]:
            for key in ('top1', 'top3', 'top5'): assert r[m][w][key] == pytest.approx(ref[m][w][key], abs=1e-12), (m, w, key)

def _reference(F, scales, label_space='all', normalize_weights=False):
    "Brute force: float64 log-probability fused scores of every row, fair ties, unknown scores from float64 probabilities."
    S = [s.astype(np.float64) for s in method_sims(F, True)]; kn = np.isin(np.arange(len(F.classes)), F.known); y = F.labels
    out = {}
    for name, idx in COMBOS.items():
        out[name] = {}
        for w in (['none'] if len(idx) == 1 else WEIGHTINGS):
            spec = w if w == 'none' or w in CONFIDENCES else tuple(FIXED[w][i] for i in idx)
            L = exact_log_fused([S[i] for i in idx], [scales[i] for i in idx], spec, normalize_weights)
            out[name][w] = topk_accuracies(L, y, (1, 3, 5))
            out[name][w] = {f'top{k}': v for k, v in out[name][w].items()}
            f = np.exp(L); unk = ~kn[y]
            out[name][w]['auroc'] = roc_metrics(unknown_score(f, kn, 'authors'), unk)[0]
            out[name][w]['auroc_msp'] = roc_metrics(unknown_score(f, kn, 'msp'), unk)[0]
    return out

@pytest.mark.parametrize('normalize_weights', [False, True])
def test_evaluate_equals_brute_force_reference(normalize_weights):
    F = feats(300, 12, seed=4, dup=((0, 7), (3, 4)))
    sc = (30., 50., 80.)
    r = evaluate(F, sc, True, normalize_weights=normalize_weights); ref = _reference(F, sc, normalize_weights=normalize_weights)
    for m in COMBOS:
        for w in r[m]:
            for key, v in ref[m][w].items(): assert r[m][w][key] == pytest.approx(v, abs=1e-9), (m, w, key)
    assert sum(r['_meta']['topk_ties']['M1'].values()) > 0   # the duplicated classes tie

# --- printed precision, chunks, torch, cache ---------------------------------------------------------------------
def test_float32_similarities_keep_the_printed_numbers():
    # the similarities stay float32 (the encoders' precision) and single methods rank on them: top-k as from float64 ones
    F = feats(500, 20, seed=6)
    F64 = replace(F, **{a: getattr(F, a).astype(np.float64) for a in ('img_clip', 'img_dino', 'text_clip', 'ref_clip', 'ref_dino')})
    a, b = evaluate(F, (100., 100., 100.), True), _reference(F64, (100., 100., 100.))
    for m in COMBOS:
        for w in a[m]:
            for key in ('top1', 'top3', 'top5'): assert round(100 * a[m][w][key], 2) == round(100 * b[m][w][key], 2), (m, w, key)

def test_chunking_changes_nothing():
    F = feats(257, 12, seed=7, dup=((2, 5),))
    for dt in ('float64', 'float32'):
        a = evaluate(F, (100., 100., 100.), True, dtype=dt, chunk_elems=10 ** 9)
        b = evaluate(F, (100., 100., 100.), True, dtype=dt, chunk_elems=12 * 7, cache=SimCache())
        a['_meta'].pop('eval_s'); b['_meta'].pop('eval_s'); assert a == b

@pytest.mark.parametrize('agg,ls,dup', [('mean', 'all', ((1, 6),)), ('max', 'all', ()), ('prototype', 'known', ())])
def test_torch_path_matches_numpy(agg, ls, dup):
    from zsc_nb.engine import cached_sims, torch_sims
    F = feats(240, 12, k=3, seed=8, dup=dup)
    # moderate scales: at large ones two confident methods fuse to scores like 3/7 + 1e-78, where the last bit of
    # float64 (which differs between BLAS libraries) decides between a tie and an order of two images
    a = evaluate(F, (5., 8., 12.), True, ls, agg=agg, device='numpy')
    b = evaluate(F, (5., 8., 12.), True, ls, agg=agg, device='cpu', chunk_elems=12 * 50)
    assert b['_meta']['backend'] == 'cpu'
    for m in COMBOS:
        for w in a[m]:
            for key, v in a[m][w].items(): assert b[m][w][key] == pytest.approx(v, abs=1e-6), (m, w, key)
    perm = np.arange(12)[::-1]
    for x, t in zip(cached_sims(F, True, agg, None, perm), torch_sims(F, True, agg, None, perm, 'cpu')(0, 240)):
        assert np.abs(x - t.numpy()).max() < 1e-6

def test_scale_sets_in_one_pass_equal_separate_calls():
    F = feats(200, 12, seed=9)
    sets = [(10., 20., 30.), (10., 200., 30.), (1., 20., 300.)]
    for dt in ('float64', 'float32'):
        many = evaluate_scales(F, sets, True, dtype=dt)
        for sc, r in zip(sets, many):
            one = evaluate(F, sc, True, dtype=dt)
            for m in COMBOS: assert one[m] == r[m], (sc, m)

def test_similarities_are_computed_once_per_bundle():
    F = feats(100, 12, seed=10); c = sim_cache(F)
    evaluate(F, (1., 1., 1.), True); misses = c.misses
    evaluate(F, (5., 5., 5.), True, label_space='known'); assert c.misses == misses and c.hits >= 3
    evaluate(F, (5., 5., 5.), True, k=1); assert c.misses == misses + 2          # M1 shared, M2 and M3 with one reference
    G = replace(F, img_clip=F.img_clip * 2); assert sim_cache(G) is not c          # a changed bundle starts afresh
    small = SimCache(max_bytes=1); evaluate(F, (1., 1., 1.), True, cache=small); assert len(small.store) == 1

def test_known_label_space_scores_only_known_images():
    F = feats(300, 12, seed=11)
    r = evaluate(F, (50., 50., 50.), True, 'known')
    kn = np.array(F.known); ok = np.isin(F.labels, kn)
    S = method_sims(F, True)[1][:, kn]; remap = {c: i for i, c in enumerate(kn)}
    y = np.array([remap[l] for l in F.labels[ok]])
    assert r['M2']['none']['top1'] == pytest.approx(topk_accuracies(S[ok], y, (1,))[1])

def test_ablations_with_one_reference_per_class_skip_calibration():
    "K = 1 (e.g. one imported image per class): leave-one-out calibration has nothing to compare with, the rest runs."
    from zsc_nb.ablations import run_ablations, calibration
    from zsc_nb.config import get_preset
    cfg = get_preset('clean', 'cifar10').replace(k_refs=1)
    F1 = feats(n=120, c=8, k=1)
    assert calibration(F1, cfg) is None and calibration(feats(n=120, c=8, k=2), cfg.replace(k_refs=2)) is not None
    out = run_ablations(F1, cfg)
    assert out['calibration'] is None and out['k_available'] == 1 and out['combos']
