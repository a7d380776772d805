"""Two gloo processes on the CPU (torchrun) write the very cache entries one process writes: same files (same key and path),
bit-identical features in the same order; (resuming is tested in nbs/16_distributed.ipynb). SMOKE: tiny random encoders, procedural images."""
import json, os, re, subprocess, sys
from pathlib import Path
import numpy as np
from PIL import Image
from zsc_nb.data import make_shapes

def _folder(tmp_path):
    s = make_shapes(n_per_class=5, size=32, seed=9, classes=['circle', 'square', 'star'])
    for i, (a, y) in enumerate(zip(s.images, s.labels)):
        d = tmp_path/'imgs'/s.classes[y]; d.mkdir(parents=True, exist_ok=True); Image.fromarray(a).save(d/f'{i:03d}.png')
    return tmp_path/'imgs'

def _torchrun(n, imgs, root, *extra):
    env = dict(os.environ, OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1', PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nnodes', '1', '--nproc-per-node', str(n), '-m', 'zsc_nb.distributed',
           '--preset', 'smoke', '--dataset', f'imagefolder:{imgs}', '--root', str(root), '--batch-size', '4', *extra]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    return r.stdout

def _entries(cache):
    out = {}
    for p in sorted(Path(cache).rglob('*.npz')):
        with np.load(p) as z: out[str(p.relative_to(cache))] = (json.loads(str(z['meta']))['key'], z['feats'].copy())
    return out

def test_two_gloo_processes_match_one(tmp_path):
    imgs = _folder(tmp_path)
    one, two = tmp_path/'one', tmp_path/'two'
    out1 = _torchrun(1, imgs, one)                     # one process: references made by `references_for`
    out2 = _torchrun(2, imgs, two, '--generate')       # two: each rank generates the references of its classes
    assert re.search(r'rank 1/2 on \S+: generated [1-9]\d* image', out2), out2
    assert 'rank 0/2' in out2 and 'rank 1/2' in out2, out2
    e1, e2 = _entries(one/'cache'), _entries(two/'cache')
    assert len(e1) == 4 and sorted(e1) == sorted(e2), (sorted(e1), sorted(e2))     # test set and references × CLIP and DINO
    assert not any('shard' in k for k in e2), 'shards are merged and removed'
    for k in e1:
        assert e1[k][0] == e2[k][0], k                                              # same cache key
        assert e1[k][1].dtype == e2[k][1].dtype and np.array_equal(e1[k][1], e2[k][1]), k   # bit-identical, same order
    r1 = re.search(r'rank 1/2 on \S+: (.*?) in [\d.]+ s', out2).group(1)
    assert r1.count(': done') == 4, r1                                              # rank 1 really encoded its half of each set
