"Own data sets end to end: an imagefolder through `zsc-nb reproduce --preset smoke`, offline (SMOKE: random weights)."
import json, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from zsc_nb.data import make_shapes, load_dataset, known_classes
from zsc_nb.folders import dataset_slug, default_known, load_csv
from zsc_nb.errors import ConfigError

def _folder(tmp_path, n=4, classes=('circle', 'square', 'star', 'ring')):
    s = make_shapes(n_per_class=n, size=32, seed=5, classes=list(classes))
    for i, (a, y) in enumerate(zip(s.images, s.labels)):
        d = tmp_path/'imgs'/s.classes[y]; d.mkdir(parents=True, exist_ok=True); Image.fromarray(a).save(d/f'{i:03d}.png')
    return tmp_path/'imgs', s

def test_imagefolder_and_csv_agree(tmp_path):
    root, s = _folder(tmp_path)
    a = load_dataset(f'imagefolder:{root}')
    assert a.classes == sorted(s.classes) and len(a) == len(s)
    (tmp_path/'l.csv').write_text('\n'.join(f"{Path(p).relative_to(tmp_path)},{a.classes[y]}" for p, y in zip(a.images, a.labels)))
    b = load_csv(tmp_path/'l.csv')
    assert b.classes == a.classes and b.labels.tolist() == a.labels.tolist()
    assert known_classes(a.name, 2, a.classes) == default_known(4, 2)

def test_unknown_prefix_is_a_usage_error():
    with pytest.raises(ValueError, match='imagefolder:<path>'): load_dataset('nosuchset')

def test_reproduce_smoke_on_an_imagefolder(tmp_path):
    root, _ = _folder(tmp_path, n=3)
    out = tmp_path/'run'
    from zsc_nb.cli import main
    assert main(['reproduce', '--preset', 'smoke', '--datasets', f'imagefolder:{root}', '--out', str(out), '--root', str(tmp_path/'data')]) in (0, None)
    slug = dataset_slug(f'imagefolder:{root}')
    ev = json.loads((out/'results'/f'eval_smoke_{slug}.json').read_text())
    assert ev['config']['smoke'] and ev['meta']['n_test'] == 12 and sorted(ev['results']) == ['0', '1', '2', '3', '4']
    assert (tmp_path/'data'/'references'/slug/'procedural').is_dir()
    rep = (out/'REPORT.md').read_text()
    assert 'SMOKE' in rep and slug in rep

def test_imagenet_layout_labels_follow_sorted_wnids(tmp_path):
    from zsc_nb.folders import load_imagenet, imagenet_wnids, imagenet_classnames
    w = imagenet_wnids()
    for i in (0, 1, 999):
        d = tmp_path/'imagenet'/'val'/w[i]; d.mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), i % 255, np.uint8)).save(d/f'ILSVRC2012_val_{i:08d}.JPEG')
    ds = load_imagenet(tmp_path)
    assert ds.labels.tolist() == [0, 1, 999] and len(ds.classes) == 1000 and ds.classes == imagenet_classnames()
    (tmp_path/'imagenet'/'val'/'not_a_wnid').mkdir()
    from zsc_nb.errors import DataError
    with pytest.raises(DataError, match='not ImageNet-1k wnids'): load_imagenet(tmp_path)

def test_clip_benchmark_set_missing_offline_names_the_fix(tmp_path):
    from zsc_nb.errors import DataError
    with pytest.raises(DataError, match='could not be built'): load_dataset('dtd', root=tmp_path, download=False)
