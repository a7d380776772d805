"""Parity with the authors' own code (issue: the `authors` preset computes what their scripts compute).

Builds their vendored OpenAI CLIP ViT-B/32 and the DINOv2 hub ViT-B/14 with seeded random weights, puts the same
weights into the project's encoders and compares features, tokens, probabilities, fused scores and every metric on a
CIFAR-like and a TinyImageNet-like task. Finds the reference code through ZSC_NB_AUTHORS_CODE / ZSC_NB_DINOV2_CODE
(default ../shared/authors and ../shared/dinov2) and skips with the reason where it is absent."""
import numpy as np, pytest
from zsc_nb.parity import (reference_code, load_authors_clip, authors_clip_vitb32, hub_dinov2_vitb14, project_encoders,
                           parity_task, run_parity, parity_verdict, parity_ok, authors_loop)

AUTH, WHY_A = reference_code('authors')
DV2, WHY_D = reference_code('dinov2')
_GET = {'authors': ("ZSC_NB_AUTHORS_CODE", "a clone of the authors' public repository 1134112149/MICW-ZIC on GitHub "
                                           "(the folder holding its clip/ package)"),
        'dinov2': ("ZSC_NB_DINOV2_CODE", "a clone of facebookresearch/dinov2 on GitHub (its root, as torch.hub loads it)")}
_MISSING = [f"{why.split('; set ')[0]}: point {_GET[w][0]} at {_GET[w][1]}" for w, why in (('authors', WHY_A), ('dinov2', WHY_D)) if why]
# the skip reason names what is missing, the variable that points to it and where to get it, for both
needs_code = pytest.mark.skipif(AUTH is None or DV2 is None, reason='parity with the authors\' code needs their code and '
                                'DINOv2\'s (neither is on PyPI): ' + ' | '.join(_MISSING))

@pytest.fixture(scope='module')
def models():
    mod = load_authors_clip(AUTH); clip, dino = authors_clip_vitb32(mod, seed=1), hub_dinov2_vitb14(DV2, seed=1)
    return mod, clip, dino, project_encoders(clip, dino)

@pytest.fixture(scope='module', params=['cifar', 'tiny'])
def parity(request, models, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    mod, clip, dino, ours = models
    return run_parity(parity_task(request.param, d, n_test=16, seed=3), mod, clip, dino, ours, d/'cache')

@needs_code
def test_features_match_at_the_bounds(parity):
    v = parity_verdict(parity)
    assert v['tokens_equal'], 'token ids differ'
    assert v['clip_cos_min'] >= 0.99998, v
    assert v['dino_cos_min'] >= 0.999999, v

@needs_code
def test_probabilities_and_fused_scores_match(parity):
    assert max(parity['prob_maxdiff']) < 1e-4, parity['prob_maxdiff']
    assert parity['metrics']['fused_maxdiff'].max() < 1e-4

@needs_code
def test_every_metric_matches(parity):
    m, v = parity['metrics'], parity_verdict(parity)
    assert len(m) == 23 and v['cells'] == 69                 # 3 single methods + 4 combinations × 5 weightings; top-1/3/5 each
    assert parity_ok(v), v           # ≤ 2 top-k cells off by one image, ≤ 2 AUROCs off by one (unknown, known) pair

@needs_code
def test_the_old_pipeline_fails_the_bounds(models, tmp_path):
    "The check can fail: timm's antialiased position embedding with bicubic tensor resizing (the pre-fix DINO) misses the bound."
    from zsc_nb.encoders import timm_encoder, l2_normalize
    from zsc_nb.parity import authors_dino_features
    mod, clip, dino, ours = models
    sd = {k: v for k, v in dino.state_dict().items() if k != 'mask_token'}
    old = timm_encoder('vit_base_patch14_dinov2', False, 'cpu', pipeline='fast', pos_embed='timm', state_dict=sd)
    task = parity_task('cifar', tmp_path, n_test=4, seed=4)
    theirs = authors_dino_features(dino, task['test'])
    cos = lambda enc: (l2_normalize(theirs) * l2_normalize(enc.encode_images(task['test'], progress=False))).sum(1).min()
    assert cos(old) < 0.9999 and cos(ours[1]) >= 0.999999

def test_authors_loop_by_hand():
    "Their loop on a 2-class, 2-image example worked by hand: M1 only with scale 1, references named 'a.png', 'a1.png', 'b.png'."
    text = np.array([[1., 0.], [0., 1.]]); img = np.array([[2., 0.], [0., 1.]])
    refs = np.array([[1., 0.], [1., 0.], [0., 1.]])
    r = authors_loop(img, img, text, refs, refs, ['a.png', 'a1.png', 'b.png'], ['a', 'b'], ['a'], np.array([0, 1]), combo=(0,))
    e = np.exp([2., 0.]); assert np.allclose(r['probs'][0][0], e / e.sum(), atol=1e-6)
    assert r['top1'] == 1.0 and r['auroc'] == 1.0
    # M2: the raw image feature (2, 0) against each normalised reference, averaged per class: a = mean(2, 2) = 2, b = 0; scale 3
    e = np.exp([6., 0.]); assert np.allclose(r['probs'][1][0], e / e.sum(), atol=1e-6)

def test_missing_code_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv('ZSC_NB_AUTHORS_CODE', str(tmp_path))
    p, why = reference_code('authors')
    assert p is None and 'ZSC_NB_AUTHORS_CODE' in why and str(tmp_path) in why

def test_pair_flips_tell_rounding_from_a_real_difference():
    "Two unknown and two known images: a swap inside float32's rounding band is excused, a swap by 1e-3 is not."
    from zsc_nb.parity import pair_flips
    unk = np.array([True, True, False, False])
    theirs = np.array([0.5, 1e-6, 2e-6, 0.1])
    assert pair_flips(theirs, theirs, unk, 10) == (0, 0)
    assert pair_flips(np.array([0.5, 3e-6, 2e-6, 0.1]), theirs, unk, 10) == (1, 0)        # 1e-6 vs 2e-6: rounding
    assert pair_flips(np.array([0.5, 1e-6, 2e-6, 0.6]), theirs, unk, 10) == (1, 1)        # 0.5 vs 0.6: a real difference
