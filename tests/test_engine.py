import json, socket, numpy as np, pytest
from pathlib import Path
from zsc_nb.config import get_preset, RunConfig, cache_dir
from zsc_nb.data import load_dataset, known_classes, known_mask, SPLITS, DataMissingError, class_names, CIFAR100_CLASSES
from zsc_nb.encoders import create_encoder, cached_features, Preprocess, IMAGENET_MEAN, IMAGENET_STD
from zsc_nb.engine import encode_all, evaluate, procedural_refs, method_sims, WEIGHTINGS, COMBOS

@pytest.fixture(scope='module')
def shapes(): return load_dataset('shapes', n_per_class=25)

@pytest.fixture(scope='module')
def feats(shapes, tmp_path_factory):
    return encode_all(shapes, procedural_refs(shapes.classes, k=4), known_classes('shapes', 0),
                      cache=tmp_path_factory.mktemp('cache'), device='cpu', progress=False)

def test_guard_blocks_the_network():
    with pytest.raises(RuntimeError, match='offline'):
        socket.create_connection(('198.51.100.7', 443), timeout=1)

def test_presets_follow_protocol():
    a = get_preset('authors', 'cifar10')
    assert (a.clip, a.dino, a.k_refs, a.scales, a.normalize) == ('clip:ViT-B-32/openai', 'timm:vit_base_patch14_dinov2.lvd142m', 2, (1.0, 3.0, 50.0), False)
    assert get_preset('authors', 'tinyimagenet').scales[2] == 1.0 and get_preset('authors', 'cifar100').max_test == 500
    assert get_preset('clean').normalize and get_preset('smoke').smoke
    a, t, c = get_preset('authors', 'cifar10'), get_preset('authors', 'tinyimagenet'), get_preset('clean')
    assert (a.clip_precision, a.dino_precision, a.preprocess) == ('auto', 'fp32', 'authors') and (c.clip_precision, c.preprocess) == ('fp32', 'fast')
    assert t.normalize == ((False, False), (False, True), (False, True))        # their TinyImageNet M3: raw test DINO feature
    assert RunConfig.from_dict(t.to_dict()) == t                                 # survives the JSON hop to papermill
    with pytest.raises(ValueError, match='Unknown preset'): get_preset('paper')
    with pytest.raises(ValueError, match='no field'): RunConfig().replace(scale=3)

def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv('ZSC_NB_CACHE', str(tmp_path)); assert cache_dir() == tmp_path

def test_splits_are_the_protocols():
    assert SPLITS['cifar10'][0] == [0, 6, 4, 9, 1, 7] and len(SPLITS['tinyimagenet']) == 5
    assert all(len(s) == 20 for s in SPLITS['tinyimagenet']) and all(len(s) == 10 for s in SPLITS['cifar100'])
    assert [CIFAR100_CLASSES[i] for i in SPLITS['cifar100'][0]][:3] == ['dolphin', 'couch', 'aquarium_fish']
    assert class_names('cifarplus10', split=4)[:4] == ['automobile', 'airplane', 'truck', 'ship']
    assert known_mask(5, [1, 3]).tolist() == [False, True, False, True, False]

def test_missing_data_says_what_to_place_where(tmp_path):
    with pytest.raises(DataMissingError, match='cifar-10-batches-py'): load_dataset('cifar10', root=tmp_path)
    with pytest.raises(ValueError, match='Unknown data set'): load_dataset('mnist')

def test_shapes_is_deterministic_and_big_enough():
    a, b = load_dataset('shapes'), load_dataset('shapes')
    assert len(a) >= 500 and len(a.classes) >= 10 and a.fingerprint == b.fingerprint and (a.images == b.images).all()
    assert load_dataset('shapes', seed=1).fingerprint != a.fingerprint

def test_cache_hit_does_not_call_the_model(tmp_path, shapes):
    enc = create_encoder('tiny-dino', 'cpu')
    a = cached_features(enc, shapes.images[:40], 'x', cache=tmp_path, batch_size=16, progress=False)
    assert enc.calls == 3
    b = cached_features(enc, shapes.images[:40], 'x', cache=tmp_path, progress=False)
    assert enc.calls == 3 and np.array_equal(a, b)

@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'stale_key', 'nan'])
def test_damaged_cache_is_recomputed(tmp_path, shapes, damage):
    enc = create_encoder('tiny-dino', 'cpu'); imgs = shapes.images[:8]
    a = cached_features(enc, imgs, 'y', cache=tmp_path, progress=False)
    f = next(Path(tmp_path).rglob('*.npz'))
    if damage == 'truncate': f.write_bytes(f.read_bytes()[:200])
    elif damage == 'garbage': f.write_bytes(b'not a numpy file')
    else:
        with np.load(f) as z: meta, arr = json.loads(str(z['meta'])), z['feats'].copy()
        if damage == 'stale_key': meta['key']['preprocess'] = 'something else'
        else: arr[0, 0] = np.nan
        np.savez(f, feats=arr, meta=np.array(json.dumps(meta)))
    c = cached_features(enc, imgs, 'y', cache=tmp_path, progress=False)
    assert enc.calls == 2 and np.allclose(a, c, atol=1e-5)

def test_cache_key_names_preprocessing(tmp_path, shapes):
    enc = create_encoder('tiny-dino', 'cpu')
    cached_features(enc, shapes.images[:4], 'z', cache=tmp_path, progress=False)
    enc.preprocess = Preprocess(40, 32, IMAGENET_MEAN, IMAGENET_STD)
    cached_features(enc, shapes.images[:4], 'z', cache=tmp_path, progress=False)
    assert enc.calls == 2 and len(list(Path(tmp_path).rglob('*.npz'))) == 2

def test_engine_image_methods_beat_chance(feats, shapes):
    # SMOKE — synthetic data, random weights: this checks the pipeline, not a result
    r = evaluate(feats, scales=(100., 100., 100.), normalize=True)
    chance = 1 / len(shapes.classes)
    assert max(r['M2']['none']['top1'], r['M3']['none']['top1']) > 2 * chance
    assert set(r) - {'_meta'} == set(COMBOS) and set(r['M1+M2']) == set(WEIGHTINGS)
    for m in r['M1+M2+M3'].values():
        assert m['top1'] <= m['top3'] <= m['top5'] <= 1 and 0 <= m['auroc'] <= 1 and 0 <= m['fpr95'] <= 1

def test_engine_known_label_space(feats):
    r = evaluate(feats, scales=(100., 100., 100.), normalize=True, label_space='known')
    m = r['M1+M2+M3']['inv_entropy']; assert 'auroc' not in m and 0 <= m['auroc_msp'] <= 1

def test_engine_k_ablation_and_aggregations(feats):
    one = evaluate(feats, k=1, combos=('M2',)); assert one['_meta']['k'] == 1
    for agg in ('mean', 'max', 'prototype'):
        assert np.isfinite(method_sims(feats, True, agg)[1]).all()

def test_authors_normalisation_differs_from_clean(feats):
    a, c = method_sims(feats, False), method_sims(feats, True)
    assert not np.allclose(a[0], c[0]) and np.allclose(a[2], c[2])   # M3 is cosine in both

def test_real_factories_build_offline_with_random_weights():
    # the code path of 'clip:ViT-B-32/openai' and 'timm:vit_base_patch14_dinov2.lvd142m' minus the weight download
    from zsc_nb.encoders import clip_encoder, timm_encoder
    clip = clip_encoder('ViT-B-32', None, 'cpu'); dino = timm_encoder('vit_base_patch14_dinov2', pretrained=False, device='cpu')
    assert (clip.preprocess.size, clip.preprocess.crop, clip.preprocess.interpolation) == (224, 224, 'bicubic')
    assert (dino.preprocess.size, dino.preprocess.crop) == (256, 224) and dino.weights == 'random'
    imgs = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    assert clip.encode_images(imgs, progress=False).shape == (2, 512) and clip.encode_text(['a photo of a cat']).shape == (1, 512)
    assert dino.encode_images(imgs, progress=False).shape == (2, 768)

@pytest.mark.parametrize('name,match', [('resnet', 'unknown encoder'), ('clip:ViT-B-32/opnai', 'ViT-B-32/openai'), ('timm:not_a_model', 'timm has no model')])
def test_unknown_encoder_names(name, match):
    with pytest.raises(ValueError, match=match): create_encoder(name)

def test_calibration_never_looks_at_test_data(feats):
    from dataclasses import replace
    from zsc_nb.engine import calibrate_scales, SCALE_GRID
    s = calibrate_scales(feats)
    rng = np.random.default_rng(0)
    scrambled = replace(feats, labels=rng.permutation(feats.labels), img_clip=rng.normal(size=feats.img_clip.shape).astype(np.float32),
                        img_dino=rng.normal(size=feats.img_dino.shape).astype(np.float32))
    assert calibrate_scales(scrambled) == s and all(x in SCALE_GRID for x in s)
    with pytest.raises(ValueError, match='K ≥ 2'): calibrate_scales(feats.with_refs(1))
