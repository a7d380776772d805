"End-to-end reproduction through papermill on offline data (SMOKE: synthetic data, random weights)."
import csv, json, pickle, time
from pathlib import Path
import numpy as np, pytest
from zsc_nb.config import SMOKE_BANNER
from zsc_nb.reproduce import reproduce
from zsc_nb.tables import make_tables, LABEL_COLUMNS
from zsc_nb.paper import PAPER
from zsc_nb.results import result_path
from zsc_nb.data import load_dataset, load_tinyimagenet, AUTHORS_TINY_KNOWN, known_classes

TABLES = ['table1', 'table2', 'table3', 'table4', 'table5', 'table6', 'table7', 'comparison']
FIGURES = ['fig3_references', 'fig4_tsne_m1', 'fig4_tsne_m2', 'fig4_tsne_m3', 'scale_m1', 'scale_m2', 'scale_m3', 'k_refs']

def check_outputs(out: Path):
    "Every table and figure exists and is well formed, and every title says SMOKE."
    from PIL import Image
    for t in TABLES:
        md = (out/'tables'/f'{t}.md').read_text()
        assert md.startswith(f'**{SMOKE_BANNER}') and md.count('\n|') >= 3
        rows = list(csv.reader((out/'tables'/f'{t}.csv').read_text().splitlines()))
        assert len(rows) >= 2 and all(len(r) == len(rows[0]) for r in rows) and rows[0][-1] == 'note'
        side = json.loads((out/'tables'/f'{t}.json').read_text())
        assert side['title'] == md.splitlines()[0].strip('*') and side['smoke'] and side['columns'] == rows[0]
        for r in rows[1:]:          # numbers only: every cell of a value column is empty or a number
            for h, v in zip(rows[0], r):
                if h not in LABEL_COLUMNS + ('note',) and v: float(v)
        tex = (out/'tables'/f'{t}.tex').read_text(); assert '\\begin{tabular}' in tex and 'SMOKE' in tex
    for f in FIGURES:
        with Image.open(out/'figures'/f'{f}.png') as im: assert im.size[0] > 200
        assert (out/'figures'/f'{f}.pdf').read_bytes()[:5] == b'%PDF-'
    rep = (out/'REPORT.md').read_text()
    assert rep.startswith(f'# {SMOKE_BANNER}') and 'Inconsistencies in the paper' in rep and 'mean ± std' in rep
    for f in FIGURES: assert f'](figures/{f}.png)' in rep          # the report embeds its figures, by relative path
    assert 'OpenHybrid' in json.loads((out/'tables'/'comparison.json').read_text())['rows_without_numbers']

@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    d = tmp_path_factory.mktemp('smoke'); t = time.time()
    r = reproduce('smoke', out=d/'out', root=d/'data', progress=False)
    return d, r, time.time() - t

def test_smoke_reproduction_writes_every_table_and_figure(smoke):
    d, r, took = smoke
    check_outputs(d/'out')
    assert all(x['ran'] for x in r['runs']) and took < 300
    assert (d/'out'/'notebooks'/'eval_smoke_shapes.ipynb').exists() and not list(Path('nbs').glob('**/eval_*.ipynb'))
    fig_nb = json.loads((d/'out'/'notebooks'/'figures_smoke.ipynb').read_text())   # the executed notebook shows its figures
    assert sum(o.get('output_type') == 'display_data' and 'image/png' in o.get('data', {}) for c in fig_nb['cells'] for o in c.get('outputs', [])) == len(FIGURES)

def test_ablations_and_figures_never_encode(smoke):
    d, _, _ = smoke
    ev = json.loads(result_path(d/'out', 'eval', 'smoke', 'shapes').read_text())
    ab = json.loads(result_path(d/'out', 'ablations', 'smoke', 'shapes').read_text())
    fg = json.loads(result_path(d/'out', 'figures', 'smoke').read_text())
    assert ev['encoder_calls'] > 0 and ab['encoder_calls'] == 0 and fg['encoder_calls'] == 0
    assert set(ab['k_sweep']) == {'1', '2', '4', '8'} and len(ev['results']) == 5

def test_second_run_is_cached_and_fast(smoke):
    d, _, _ = smoke
    t = time.time(); r = reproduce('smoke', out=d/'out', root=d/'data', progress=False); took = time.time() - t
    assert not any(x['ran'] for x in r['runs']) and took < 60
    check_outputs(d/'out')

def test_tables_carry_the_papers_numbers(smoke):
    d, _, _ = smoke
    T = make_tables(d/'out', 'smoke')
    t1 = {(r[0], r[1]): r for r in T['table1'][2]}
    assert t1[('M1+M2+M3', 'CIFAR-10')][3] == '91.96' and t1[('M1+M2+M3', 'CIFAR-10')][2] == '—'
    assert t1[('M2', 'shapes (SMOKE)')][2] != '—'
    t5 = {(r[0], r[1]): r for r in T['table5'][2]}
    assert t5[('inverse entropy', 'CIFAR-10')][3] == f"{PAPER['table5']['inv_entropy'][0]:.2f}"

def test_authors_protocol_path_offline(tmp_path, monkeypatch):
    key = 'sk-test-REPRODUCE-SECRET-0123456789'
    monkeypatch.setenv('OPENAI_API_KEY', key)       # present in the environment, so it must stay out of every file
    # the authors' code path (raw features, hand-tuned scales, split 0, named unknowns, their AUROC), through papermill,
    # on synthetic data with tiny random encoders: SMOKE, so every title says so
    ov = dict(clip='tiny-clip', dino='tiny-dino', generator='procedural', llm='scripted', device='cpu', smoke=True, k_refs=2)
    reproduce('authors', datasets=['shapes'], out=tmp_path/'out', root=tmp_path/'data', overrides=ov, progress=False)
    ev = json.loads(result_path(tmp_path/'out', 'eval', 'authors', 'shapes').read_text())
    assert list(ev['results']) == ['0'] and list(ev['results']['0']) == ['all']
    assert ev['config']['normalize'] is False and ev['config']['scales'] == [1.0, 3.0, 50.0] and ev['config']['k_refs'] == 2 and ev['meta']['k_available'] == 8
    assert (tmp_path/'out'/'REPORT.md').read_text().startswith(f'# {SMOKE_BANNER}')
    assert not [p for p in tmp_path.rglob('*') if p.is_file() and key.encode() in p.read_bytes()]   # notebooks, JSON, manifests

def _fake_cifar10(root: Path, n=30):
    d = root/'cifar-10-batches-py'; d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with open(d/'test_batch', 'wb') as f:
        pickle.dump({'data': rng.integers(0, 255, (n, 3072), dtype=np.uint8), 'labels': list(np.arange(n) % 10)}, f)
    with open(d/'batches.meta', 'wb') as f:
        pickle.dump({'label_names': ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']}, f)

def test_cifar_loader_on_local_files(tmp_path, monkeypatch):
    import torchvision
    _fake_cifar10(tmp_path)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, '_check_integrity', lambda self: True)   # our files have other checksums
    monkeypatch.setattr(torchvision.datasets.cifar, 'check_integrity', lambda *a, **k: True)
    ds = load_dataset('cifar10', root=tmp_path)
    assert ds.images.shape == (30, 32, 32, 3) and ds.labels[:3].tolist() == [0, 1, 2] and ds.classes[3] == 'cat'
    assert len(load_dataset('cifar10', root=tmp_path, max_n=5)) == 5

def test_tinyimagenet_loader_on_a_fake_archive(tmp_path, caplog):
    from PIL import Image
    base = tmp_path/'tiny-imagenet-200'; (base/'val'/'images').mkdir(parents=True)
    wnids = [f'n{i:08d}' for i in range(200)]
    names = {w: f'class {i}, synonym' for i, w in enumerate(wnids)}
    for j, i in enumerate([108, 147, 17, 58, 193, 123, 72, 144, 75, 167, 134, 14, 81, 171, 44, 197, 152, 66, 1, 133]):
        names[wnids[i]] = AUTHORS_TINY_KNOWN[j].replace('_', ' ') + ', other name'
    (base/'wnids.txt').write_text('\n'.join(reversed(wnids)))
    (base/'words.txt').write_text('\n'.join(f'{w}\t{n}' for w, n in names.items()) + '\nn99999999\tunused\n')
    rows = []
    for k, w in enumerate(wnids[:5] * 2):
        Image.fromarray(np.full((64, 64, 3), k, np.uint8)).save(base/'val'/'images'/f'val_{k}.JPEG'); rows.append(f'val_{k}.JPEG\t{w}\t0\t0\t63\t63')
    (base/'val'/'val_annotations.txt').write_text('\n'.join(rows))
    ds = load_tinyimagenet(tmp_path)
    assert len(ds.classes) == 200 and ds.classes[0] == 'class_0' and ds.classes[108] == 'gondola' and ds.classes[133] == 'police_van'
    assert ds.images.shape == (10, 64, 64, 3) and sorted(ds.labels.tolist()) == sorted([0, 1, 2, 3, 4] * 2)
    assert sorted(ds.classes[i] for i in known_classes('tinyimagenet', 0, ds.classes)) == sorted(AUTHORS_TINY_KNOWN)
    assert 'differs' not in caplog.text

def test_cifarplus10_composition(tmp_path, monkeypatch):
    import torchvision
    from zsc_nb.data import CIFAR100_CLASSES, SPLITS
    _fake_cifar10(tmp_path, n=40)
    d = tmp_path/'cifar-100-python'; d.mkdir()
    rng = np.random.default_rng(1)
    with open(d/'test', 'wb') as f: pickle.dump({'data': rng.integers(0, 255, (300, 3072), dtype=np.uint8), 'fine_labels': list(np.arange(300) % 100)}, f)
    with open(d/'meta', 'wb') as f: pickle.dump({'fine_label_names': CIFAR100_CLASSES}, f)
    for cls in (torchvision.datasets.CIFAR10, torchvision.datasets.CIFAR100): monkeypatch.setattr(cls, '_check_integrity', lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, 'check_integrity', lambda *a, **k: True)
    ds = load_dataset('cifarplus10', root=tmp_path, split=1)
    assert ds.classes[:4] == ['frog', 'horse', 'automobile', 'truck'] and ds.classes[4] == CIFAR100_CLASSES[SPLITS['cifar100'][1][0]]
    assert len(ds) == 4 * 4 + 10 * 3 and set(ds.labels.tolist()) == set(range(14))
    assert known_classes('cifarplus10', 1) == [0, 1, 2, 3]

def test_paid_references_from_reproduce_name_the_command_to_confirm(tmp_path, monkeypatch):
    from zsc_nb.config import get_preset
    from zsc_nb.generation import CostGuardError
    from zsc_nb.reproduce import references_for
    from fake_openai import FakeOpenAI
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-test-cost-0123456789')
    with FakeOpenAI() as srv:
        monkeypatch.setenv('OPENAI_BASE_URL', srv.base_url)
        cfg = get_preset('authors', 'cifar100', llm='none', generator='auto')      # paid images instead of the authors' archive
        with pytest.raises(CostGuardError, match=r'zsc-nb references --dataset cifar100 --k 2 --generator openai --yes'):
            references_for(cfg, class_names_c100(), tmp_path)
        assert not [r for r in srv.requests if 'images' in r[0]]

def class_names_c100():
    from zsc_nb.data import CIFAR100_CLASSES
    return list(CIFAR100_CLASSES)

# ---- issue 17, end to end through papermill (two tests): the offline try on any folder, and results that follow the data

def _fruit(folder: Path, n=4, seed=0, classes=('apple', 'banana', 'cherry')):
    "An imagefolder of procedural JPEG and PNG files whose classes are not shapes classes."
    from PIL import Image
    from zsc_nb.data import make_shapes
    s = make_shapes(n_per_class=n, size=32, seed=seed, classes=['circle', 'square', 'star'][:len(classes)])
    for i, (a, y) in enumerate(zip(s.images, s.labels)):
        d = folder/classes[y]; d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(d/f'{seed}_{i:03d}.{"png" if i % 2 else "jpg"}')
    return folder

def test_smoke_on_any_folder_offline_with_skip_bad(tmp_path, capsys):
    from zsc_nb.cli import main
    pics = _fruit(tmp_path/'fruit')
    (pics/'banana'/'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a whole jpeg')
    argv = ['reproduce', '--preset', 'smoke', '--datasets', f'imagefolder:{pics}', '--out', str(tmp_path/'out'), '--root', str(tmp_path/'data')]
    rc = main(argv); err = capsys.readouterr().err
    assert rc == 1 and 'broken.jpg' in err and not (tmp_path/'out'/'notebooks').exists()       # refused before any kernel
    assert main(argv + ['--skip-bad']) == 0
    out = tmp_path/'out'
    assert (out/'skipped.txt').read_text().startswith(str(pics/'banana'/'broken.jpg') + '\t')
    rep = (out/'REPORT.md').read_text()
    assert rep.startswith(f'# {SMOKE_BANNER}') and '1 unusable image file(s) left out' in rep and '| 12 |' in rep
    ev = json.loads(next((out/'results').glob('eval_smoke_imagefolder-fruit-*.json')).read_text())
    assert ev['meta']['n_test'] == 12 and ev['config']['generator'] == 'procedural'
    from zsc_nb.generation import read_manifest
    man = read_manifest(next((tmp_path/'data'/'references').glob('imagefolder-fruit-*'))/'procedural')
    assert {c for c, _ in man} == {'apple', 'banana', 'cherry'} and all(r['model'] == 'procedural-shapes' for r in man.values())
    assert not [p for p in (out/'notebooks').iterdir() if p.name.startswith('.')]              # no partial notebook

def test_rerun_follows_the_data_and_rebuilds_missing_intermediates(tmp_path):
    ov = dict(clip='tiny-clip', dino='tiny-dino', generator='procedural', llm='scripted', device='cpu', smoke=True, k_refs=2)
    pics = _fruit(tmp_path/'fruit'); name = f'imagefolder:{pics}'; out = tmp_path/'out'
    run = lambda: {r['notebook']: r['ran'] for r in reproduce('authors', [name], out, tmp_path/'data', overrides=ov, progress=False)['runs']}
    assert all(run().values())
    _fruit(pics, n=1, seed=1)                                        # three new images (one per class) ...
    next(iter(sorted((pics/'apple').glob('0_*')))).unlink()          # ... and one removed
    assert run() == {'evaluate': True, 'ablations': True, 'figures': True}
    ev = json.loads(next((out/'results').glob('eval_authors_*.json')).read_text())
    assert ev['meta']['n_test'] == 12 + 3 - 1 and '| 14 |' in (out/'REPORT.md').read_text()
    import shutil
    shutil.rmtree(out/'features'); next((out/'results').glob('ablations_authors_*.json')).unlink()
    assert run() == {'evaluate': True, 'ablations': True, 'figures': False}      # rebuilt; the figures' inputs are unchanged
    assert list((out/'features').glob('*.npz')) and list((out/'results').glob('ablations_authors_*.json'))
    assert run() == {'evaluate': False, 'ablations': False, 'figures': False}
