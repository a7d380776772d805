"""Images as users have them (issue 15 item 1): real-format files made here, decoded by `zsc_nb.images.load_image`."""
import hashlib, json, os
import numpy as np, pytest, torch
from PIL import Image
from zsc_nb.images import load_image, scan_images, to_rgb, gray_to_uint8, BACKGROUND, DRAFT_SIDE
from zsc_nb.errors import BadImageError, ConfigError, DataError

def _upright():
    up = np.zeros((60, 90, 3), np.uint8); up[:20] = (220, 40, 40); up[20:, :30] = (40, 40, 220); return up

@pytest.mark.parametrize('orientation,stored', [(6, lambda a: np.rot90(a, 1)), (8, lambda a: np.rot90(a, -1)),
                                                (3, lambda a: np.rot90(a, 2)), (2, lambda a: a[:, ::-1])])
def test_exif_orientation_is_applied(tmp_path, orientation, stored):
    up = _upright(); ex = Image.new('RGB', (1, 1)).getexif(); ex[0x0112] = orientation
    p = tmp_path/f'o{orientation}.jpg'; Image.fromarray(np.ascontiguousarray(stored(up))).save(p, quality=95, exif=ex)
    v = np.asarray(load_image(p)).astype(int)
    assert v.shape == up.shape and np.abs(v - up).mean() < 4
    a = np.asarray(load_image(p, 'authors')).astype(int)      # the authors' mode keeps the stored pixels
    assert a.shape == stored(up).shape and np.abs(a - stored(up)).mean() < 4

def _rgba(under):
    a = np.zeros((48, 48, 4), np.uint8); a[..., :3] = under; a[12:36, 12:36] = (230, 30, 30, 255); return a

def test_rgba_pair_differing_under_alpha0_decode_identically(tmp_path):
    ps = []
    for i, under in enumerate([(0, 0, 0), (20, 220, 40)]):
        p = tmp_path/f'{i}.png'; Image.fromarray(_rgba(under), 'RGBA').save(p); ps.append(p)
    a, b = (np.asarray(load_image(p)) for p in ps)
    assert (a == b).all() and tuple(a[0, 0]) == BACKGROUND and tuple(a[20, 20]) == (230, 30, 30)
    assert (np.asarray(load_image(ps[0], 'authors')) != np.asarray(load_image(ps[1], 'authors'))).any()

def test_rgba_pair_gives_identical_features_with_a_tiny_encoder(tmp_path):
    from zsc_nb.encoders import tiny_clip
    ps = []
    for i, under in enumerate([(0, 0, 0), (20, 220, 40)]):
        p = tmp_path/f'{i}.png'; Image.fromarray(_rgba(under), 'RGBA').save(p); ps.append(str(p))
    f = tiny_clip().encode_images(ps, progress=False)
    assert np.allclose(f[0], f[1], atol=1e-6)
    plain = np.stack([np.asarray(load_image(p, 'authors')) for p in ps])     # the plain conversion: the hidden colour is content
    g = tiny_clip().encode_images(plain, progress=False)
    assert not np.allclose(g[0], g[1], atol=1e-3)

def test_partial_alpha_is_composited_on_white():
    a = np.zeros((4, 4, 4), np.uint8); a[..., 0] = 200; a[..., 3] = 128
    v = np.asarray(to_rgb(Image.fromarray(a, 'RGBA'))).astype(int)
    assert abs(v[0, 0, 0] - round(200 * 128 / 255 + 255 * 127 / 255)) <= 1 and abs(v[0, 0, 1] - 127) <= 1

def test_la_and_palette_transparency(tmp_path):
    la = np.zeros((16, 16, 2), np.uint8); la[..., 0] = 7; la[4:12, 4:12] = (60, 255)
    p = tmp_path/'la.png'; Image.fromarray(la, 'LA').save(p)
    v = np.asarray(load_image(p))
    assert tuple(v[0, 0]) == BACKGROUND and tuple(v[8, 8]) == (60, 60, 60)
    pal = Image.new('P', (16, 16), 0); pal.putpalette([9, 9, 9, 40, 90, 220] + [0] * 762); pal.paste(1, (4, 4, 12, 12))
    q = tmp_path/'p.png'; pal.save(q, transparency=0)
    w = np.asarray(load_image(q))
    assert tuple(w[0, 0]) == BACKGROUND and tuple(w[8, 8]) == (40, 90, 220)
    pa = Image.new('PA', (8, 8)); pa.putpalette([200, 0, 0] * 256)
    assert tuple(np.asarray(to_rgb(pa))[0, 0]) == BACKGROUND          # PA with alpha 0 everywhere
    rgb_key = tmp_path/'key.png'; Image.new('RGB', (8, 8), (1, 2, 3)).save(rgb_key, transparency=(1, 2, 3))
    assert tuple(np.asarray(load_image(rgb_key))[0, 0]) == BACKGROUND   # a tRNS colour key is transparency too

@pytest.mark.parametrize('dtype,mode', [('<u2', 'I;16'), ('>u2', 'I;16B')])
def test_16bit_gradient_stays_a_gradient(tmp_path, dtype, mode):
    g = np.tile(np.linspace(0, 65535, 64), (8, 1)).astype(dtype)
    im = Image.frombuffer(mode, (64, 8), g.tobytes(), 'raw', mode, 0, 1)
    assert im.mode == mode
    v = np.asarray(to_rgb(im))[0, :, 0].astype(int)
    assert (np.diff(v) >= 0).all() and v[0] == 0 and v[-1] == 255 and 100 < v.mean() < 155
    p = tmp_path/'g.png'; Image.fromarray(g.astype(np.uint16)).save(p)
    with Image.open(p) as im2: assert im2.mode.startswith('I;16')
    w = np.asarray(load_image(p))[0, :, 0].astype(int)
    assert (np.diff(w) >= 0).all() and w[-1] == 255 and w.mean() < 200           # not white
    assert np.asarray(load_image(p, 'authors')).mean() > 240                       # what the plain conversion gives

def test_32bit_int_and_float(tmp_path):
    f = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 1))
    p = tmp_path/'f.tif'; Image.fromarray(f).save(p)
    with Image.open(p) as im: assert im.mode == 'F'
    v = np.asarray(load_image(p))[0, :, 0].astype(int)
    assert (np.diff(v) >= 0).all() and v[-1] == 255 and v.mean() > 100              # not black
    i32 = Image.fromarray(np.tile(np.linspace(-2**20, 2**30, 64), (8, 1)).astype(np.int32))
    assert i32.mode == 'I'
    w = np.asarray(to_rgb(i32))[0, :, 0].astype(int)
    assert w[0] == 0 and w[-1] == 255 and (np.diff(w) >= 0).all()                   # the image's own range
    assert (gray_to_uint8(np.array([[0, 32768, 65535]]), 'I') == [[0, 128, 255]]).all()   # 16-bit data held in 'I'
    assert (gray_to_uint8(np.array([[0., 127.5, 255.]]), 'F') == [[0, 128, 255]]).all()   # 8-bit values as float
    assert (gray_to_uint8(np.array([[np.nan, 1.]]), 'F') == [[0, 255]]).all()

def test_colour_spaces_and_bilevel(tmp_path):
    p = tmp_path/'cmyk.jpg'; Image.new('CMYK', (16, 16), (0, 255, 255, 0)).save(p, quality=95)
    with Image.open(p) as im: assert im.mode == 'CMYK'
    assert np.abs(np.asarray(load_image(p)).astype(int)[8, 8] - (255, 0, 0)).max() < 8
    lab = Image.new('RGB', (4, 4), (200, 30, 30)).convert('LAB')
    assert np.abs(np.asarray(to_rgb(lab)).astype(int)[0, 0] - (200, 30, 30)).max() <= 4
    assert tuple(np.asarray(to_rgb(Image.new('YCbCr', (2, 2), (128, 128, 128))))[0, 0]) == (128, 128, 128)
    b = tmp_path/'b.png'; Image.new('1', (8, 8), 1).save(b)
    assert tuple(np.asarray(load_image(b))[0, 0]) == (255, 255, 255)

def test_animated_gif_first_frame(tmp_path):
    fr = [Image.new('RGB', (16, 16), c) for c in ((250, 200, 0), (0, 90, 200), (10, 10, 10))]
    p = tmp_path/'a.gif'; fr[0].save(p, save_all=True, append_images=fr[1:], duration=100, loop=0)
    with Image.open(p) as im: assert im.n_frames == 3
    assert tuple(np.asarray(load_image(p))[0, 0]) == (250, 200, 0)
    q = tmp_path/'a.png'; fr[1].save(q, save_all=True, append_images=[fr[0]], duration=100)   # APNG
    assert tuple(np.asarray(load_image(q))[0, 0]) == (0, 90, 200)

def _bad_files(d):
    ok = d/'ok.jpg'; Image.new('RGB', (64, 64), (1, 2, 3)).save(ok)
    big = d/'big.jpg'; Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(big, quality=95)
    empty = d/'empty.jpg'; empty.write_bytes(b'')
    trunc = d/'trunc.jpg'; b = big.read_bytes(); trunc.write_bytes(b[:len(b) // 2])
    text = d/'notes.png'; text.write_text('hello, not a picture')
    cut = d/'cut.png'; b = (d/'ok.jpg').read_bytes(); Image.new('RGB', (64, 64), (9, 9, 9)).save(cut); cut.write_bytes(cut.read_bytes()[:60])
    return [ok, empty, trunc, text, big, cut, d/'missing.jpg']

def test_bad_files_raise_naming_the_file(tmp_path):
    files = _bad_files(tmp_path)
    for p in files[1:4] + files[5:]:
        with pytest.raises(BadImageError) as e: load_image(p)
        assert str(p) in str(e.value) and '—' in str(e.value), str(e.value)
    with pytest.raises(BadImageError, match='empty'): load_image(b'')
    with pytest.raises(BadImageError, match='truncated'): load_image(files[2])
    with pytest.raises(ConfigError): load_image(files[0], 'sideways')
    from zsc_nb.encoders import tiny_clip
    for pipeline in ('fast', 'authors'):                                    # through an encoder: the same typed error
        with pytest.raises(BadImageError, match='trunc.jpg'): tiny_clip(pipeline=pipeline).encode_images([str(files[0]), str(files[2])], progress=False)

def test_scan_lists_all_bad_files_at_once(tmp_path):
    files = _bad_files(tmp_path)
    bad = scan_images(files)
    assert [p for p, _ in bad] == [str(p) for p in files if p.name not in ('ok.jpg', 'big.jpg')]
    why = dict(bad)
    assert 'empty' in why[str(files[1])] and 'truncated' in why[str(files[2])] and 'not an image' in why[str(files[3])]
    assert 'no such file' in why[str(files[6])]
    assert scan_images(files[:1] + files[4:5]) == []

def test_large_jpeg_is_decoded_reduced(tmp_path):
    p = tmp_path/'big.jpg'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)).resize((4000, 3000)).save(p, quality=70)
    full = load_image(p, draft_side=None); d = load_image(p); small = load_image(p, draft_side=200)
    assert full.size == (4000, 3000) and d.size == (2000, 1500) and small.size == (500, 375)
    assert min(d.size) >= DRAFT_SIDE and min(small.size) >= 200
    assert len(d.tobytes()) * 4 == len(full.tobytes())                 # a quarter of the decoded pixel memory
    ref = np.asarray(full.resize((500, 375), Image.BILINEAR)).astype(float)
    assert np.abs(np.asarray(small.resize((500, 375))).astype(float) - ref).mean() < 12   # the same picture
    assert load_image(p, 'authors').size == (4000, 3000)               # the authors' mode decodes in full

# --- each model's own preprocessing (issue 15 item 4): the library's transform from the config alone, no weights ---
from zsc_nb.preprocess import (clip_preprocess, clip_preprocess_cfg, dino_preprocess, make_preprocess, fast_vs_reference, bound_pictures,
                               FAST_BOUND, RESIZE_MODES, CLIP_MEAN, CLIP_STD)
from zsc_nb.config import TRACKS

PRESET_MODELS = sorted({n for t in TRACKS.values() for n in t.values()} | {'clip:ViT-L-14/openai', 'timm:vit_base_patch16_224.dino'})

def _pp(name):
    return clip_preprocess(*name[5:].split('/', 1)) if name.startswith('clip:') else dino_preprocess(name[5:])

def test_every_preset_and_track_model_is_covered():
    from zsc_nb.config import get_preset
    named = {getattr(get_preset(p, track=t), f) for p in ('authors', 'clean') for t in TRACKS for f in ('clip', 'dino')}
    assert named <= set(PRESET_MODELS)

@pytest.mark.parametrize('name', PRESET_MODELS)
def test_fast_path_matches_the_library_transform(name):
    pp = _pp(name)
    assert fast_vs_reference(pp, bound_pictures()) <= FAST_BOUND

@pytest.mark.parametrize('tiny', ['tiny-clip', 'tiny-dino'])
def test_fast_path_matches_for_tiny_encoders(tiny):
    from zsc_nb.encoders import create_encoder
    assert fast_vs_reference(create_encoder(tiny).preprocess, bound_pictures()) <= FAST_BOUND

def test_config_taken_whole():
    c = clip_preprocess_cfg('ViT-H-14-378-quickgelu', 'dfn5b')
    assert (c['size'], c['resize_mode'], c['interpolation']) == (378, 'squash', 'bicubic')
    pp = clip_preprocess('ViT-H-14-378-quickgelu', 'dfn5b')
    assert (pp.crop, pp.resize_mode, pp.library) == (378, 'squash', 'open_clip')
    import open_clip
    bil = [(a, t) for a, t in open_clip.list_pretrained() if open_clip.get_pretrained_cfg(a, t).get('interpolation') == 'bilinear']
    if bil: assert clip_preprocess(*bil[0]).interpolation == 'bilinear'
    from zsc_nb.encoders import _quiet
    with _quiet(): built = open_clip.create_model('ViT-B-32').visual.preprocess_cfg    # open_clip's own merge, no tag
    norm = lambda c: {k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in dict(c, size=224 if c['size'] in (224, (224, 224)) else c['size']).items()}
    assert norm(built) == norm(clip_preprocess_cfg('ViT-B-32', None))
    d = dino_preprocess('vit_base_patch14_dinov2.lvd142m')
    assert (d.size, d.crop, d.interpolation, d.library) == (256, 224, 'bicubic', 'timm')

def test_squash_model_on_a_360x240_picture():
    pic = bound_pictures()[0]; assert pic.shape == (240, 360, 3)
    pp = clip_preprocess('ViT-H-14-378-quickgelu', 'dfn5b')
    ref = pp.reference()(Image.fromarray(pic))
    fast = pp(torch.from_numpy(pic))[0]
    assert ref.shape == fast.shape == (3, 378, 378) and float((fast - ref).abs().max()) <= FAST_BOUND
    old = make_preprocess('clip', 378, 378, pp.mean, pp.std)             # short side + crop: the fault
    assert float((old(torch.from_numpy(pic))[0] - ref).abs().max()) > 1
    from zsc_nb.encoders import tiny_clip                                 # and through an encoder: a squash tiny CLIP
    enc = tiny_clip(resize_mode='squash', image_size=48)
    ref48 = enc.preprocess.reference()(Image.fromarray(pic))
    assert float((enc.preprocess(torch.from_numpy(pic))[0] - ref48).abs().max()) <= FAST_BOUND

@pytest.mark.parametrize('mode', RESIZE_MODES)
@pytest.mark.parametrize('interp', ['bicubic', 'bilinear'])
def test_every_resize_mode(mode, interp):
    pp = make_preprocess('clip', 64, 64, CLIP_MEAN, CLIP_STD, 'fast', interp, mode, 200)
    assert fast_vs_reference(pp, bound_pictures()) <= FAST_BOUND

def test_preprocessing_fields_are_in_the_cache_key():
    from zsc_nb.encoders import tiny_clip, feature_key
    keys = {json.dumps(feature_key(tiny_clip(resize_mode=m), 'd'), sort_keys=True) for m in RESIZE_MODES}
    keys.add(json.dumps(feature_key(tiny_clip(pipeline='authors'), 'd'), sort_keys=True))
    assert len(keys) == 4
    a = make_preprocess('clip', 64, 64, CLIP_MEAN, CLIP_STD, 'fast', 'bicubic', 'longest', 0)
    b = make_preprocess('clip', 64, 64, CLIP_MEAN, CLIP_STD, 'fast', 'bicubic', 'longest', 255)
    assert a.key != b.key

# --- features keyed by file content (issue 17 item 3) ---
from zsc_nb.images import file_digests

def _bmp(p, colour): Image.new('RGB', (32, 32), colour).save(p)

def _swap(a, b, tmp):
    t = tmp/'swap.tmp'; os.replace(a, t); os.replace(b, a); os.replace(t, b)
    for p in (a, b): os.utime(p, ns=(10**18, 10**18))                       # same times: only content tells them apart

def test_digests_are_remembered_and_follow_swaps(tmp_path):
    a, b = tmp_path/'a.bmp', tmp_path/'b.bmp'; _bmp(a, (255, 0, 0)); _bmp(b, (0, 0, 255))
    store = tmp_path/'d.sqlite'
    first = file_digests([a, b], store)
    assert first == [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)]
    import zsc_nb.images as zi
    calls = []; orig = zi.file_sha256
    zi.file_sha256 = lambda p: calls.append(p) or orig(p)
    try:
        assert file_digests([a, b], store) == first and calls == []          # unchanged files: not rehashed
        _swap(a, b, tmp_path)
        assert file_digests([a, b], store) == first[::-1] and len(calls) == 2
    finally: zi.file_sha256 = orig
    with pytest.raises(DataError): file_digests([tmp_path/'gone.bmp'], store)

def _folder(root):
    for c, col in (('cat', (200, 30, 30)), ('dog', (30, 30, 200))):
        (root/c).mkdir(parents=True)
        for i in range(3): _bmp(root/c/f'{i}.bmp', tuple(int(v * (1 - 0.2 * i)) for v in col))
    return root

@pytest.mark.parametrize('kind', ['imagefolder', 'csv'])
def test_swapping_two_classes_pictures_changes_the_key_and_the_features(tmp_path, kind, monkeypatch):
    from zsc_nb.folders import load_imagefolder, load_csv
    from zsc_nb.encoders import tiny_clip, cached_features
    monkeypatch.setenv('ZSC_NB_CACHE', str(tmp_path/'cache'))
    root = _folder(tmp_path/'set')
    if kind == 'csv':
        (root/'set.csv').write_text('path,label\n' + ''.join(f'{c}/{i}.bmp,{c}\n' for c in ('cat', 'dog') for i in range(3)))
    load = (lambda: load_imagefolder(root)) if kind == 'imagefolder' else (lambda: load_csv(root/'set.csv'))
    ds = load(); enc = tiny_clip()
    f0 = cached_features(enc, ds.images, ds.fingerprint, progress=False)
    assert load().fingerprint == ds.fingerprint
    cached_features(enc, ds.images, ds.fingerprint, progress=False); assert enc.calls == 1   # from the cache
    _swap(root/'cat'/'0.bmp', root/'dog'/'0.bmp', tmp_path)                                  # same names, same sizes
    ds2 = load()
    assert ds2.images == ds.images and ds2.labels.tolist() == ds.labels.tolist() and ds2.fingerprint != ds.fingerprint
    f1 = cached_features(enc, ds2.images, ds2.fingerprint, progress=False)
    assert enc.calls == 2 and np.allclose(f1[0], f0[3], atol=1e-5) and np.allclose(f1[3], f0[0], atol=1e-5)
