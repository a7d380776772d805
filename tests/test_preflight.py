"""Issue 17: every input checked before the first notebook, errors one line, downloads checked and atomic, one cache key
and one references folder for every command. No kernel starts in this file except where a test says so (typed errors
through papermill: two tiny notebooks). SMOKE: tiny random encoders, procedural images made in the test."""
import io, json, os, subprocess, sys, tarfile, threading, time, zipfile, hashlib
from functools import partial
from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from zsc_nb.cli import main
from zsc_nb import data as D
from zsc_nb.data import DataMissingError
from zsc_nb.errors import ConfigError, DataError, BadImageError
from zsc_nb.preflight import (check_writable, check_run, preflight, typed_error, without_files, own_dataset, input_fingerprint,
                              verify_results, classify_inputs)

REPO = Path(__file__).resolve().parent.parent

def _one_line(err:str):
    assert err.startswith('zsc-nb: error: ') and err.count('\n') == 1 and 'Traceback' not in err, err
    assert 'report' not in err, err                    # the word is kept for real bugs

def _run(argv, capsys):
    rc = main(argv); o = capsys.readouterr(); return rc, o.out, o.err

def _pictures(folder:Path, classes=('apple', 'banana', 'cherry'), n=4, seed=0) -> Path:
    "A small imagefolder of real-format files (JPEG and PNG, procedural pixels)."
    rng = np.random.default_rng(seed)
    for c in classes:
        (folder/c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder/c/f'{i}.{"png" if i % 2 else "jpg"}')
    return folder

def _faults(folder:Path) -> list:
    "A zero-byte JPEG, a truncated JPEG and a text file named .png: the three kinds of undecodable file."
    (folder/'apple'/'empty.jpg').write_bytes(b'')
    buf = io.BytesIO(); Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, 'JPEG')
    (folder/'banana'/'cut.jpg').write_bytes(buf.getvalue()[:200])
    (folder/'cherry'/'notes.png').write_text('not a picture')
    return [folder/'apple'/'empty.jpg', folder/'banana'/'cut.jpg', folder/'cherry'/'notes.png']

# ---- fresh clone: one line, fast, before any kernel (and without torch)

def test_fresh_clone_reproduce_is_one_line_within_two_seconds_without_torch(tmp_path):
    code = ("import sys, time; t = time.perf_counter(); from zsc_nb.cli import main; "
            f"rc = main(['reproduce', '--root', {str(tmp_path/'data')!r}, '--out', {str(tmp_path/'out')!r}, '--no-download']); "
            "print(rc, round(time.perf_counter() - t, 3), 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE='1'))
    rc, took, torch = r.stdout.split()
    assert rc == '1' and torch == 'False' and float(took) < 2, r.stdout
    _one_line(r.stderr)
    assert 'cifar10, cifar100, tinyimagenet' in r.stderr and 'cifar-10-python.tar.gz' in r.stderr and 'tiny-imagenet-200.zip' in r.stderr
    assert 'run without --no-download' in r.stderr                  # the user gave --no-download: the hint may name it
    assert not (tmp_path/'out').exists()                            # nothing written, no notebook

def test_failed_download_names_the_set_and_the_manual_step_without_no_download_hint(tmp_path, monkeypatch, capsys):
    dead = f'http://127.0.0.1:{_free_port()}'
    monkeypatch.setitem(D.CIFAR_ARCHIVES, 'cifar10', (f'{dead}/cifar-10-python.tar.gz', *D.CIFAR_ARCHIVES['cifar10'][1:]))
    t = time.perf_counter()
    rc, out, err = _run(['reproduce', '--preset', 'clean', '--datasets', 'cifar10', '--root', str(tmp_path/'d'), '--out', str(tmp_path/'o')], capsys)
    assert rc == 1 and time.perf_counter() - t < 2
    _one_line(err)
    assert 'cifar10' in err and 'no connection' in err and 'extract it into' in err and '--no-download' not in err
    assert not list((tmp_path/'d').glob('*.part')) and not (tmp_path/'o').exists()

# ---- downloads: checked, atomic, a failed one removed (files served from 127.0.0.1)

def _free_port():
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture
def server(tmp_path):
    "A local web server over `tmp_path/'www'`: yields (folder, base url)."
    www = tmp_path/'www'; www.mkdir()
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = ThreadingHTTPServer(('127.0.0.1', 0), partial(Quiet, directory=str(www)))
    th = threading.Thread(target=srv.serve_forever, daemon=True); th.start()
    yield www, f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown(); srv.server_close()

def _tiny_zip(path:Path):
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('tiny-imagenet-200/wnids.txt', 'n00000001\nn00000002\n')
        z.writestr('tiny-imagenet-200/words.txt', 'n00000001\tapple, fruit\nn00000002\tbanana\n')
        rows = []
        for k, w in enumerate(['n00000001', 'n00000002']):
            buf = io.BytesIO(); Image.fromarray(np.full((64, 64, 3), 40 * k, np.uint8)).save(buf, 'JPEG')
            z.writestr(f'tiny-imagenet-200/val/images/val_{k}.JPEG', buf.getvalue()); rows.append(f'val_{k}.JPEG\t{w}\t0\t0\t63\t63')
        z.writestr('tiny-imagenet-200/val/val_annotations.txt', '\n'.join(rows))

def _pin(monkeypatch, f:Path):
    monkeypatch.setattr(D, 'TINY_SIZE', f.stat().st_size); monkeypatch.setattr(D, 'TINY_MD5', hashlib.md5(f.read_bytes()).hexdigest())

def test_html_error_page_instead_of_the_zip_is_refused_and_removed(tmp_path, server, monkeypatch):
    www, url = server
    (www/'tiny-imagenet-200.zip').write_text('<html><body>503 Service Unavailable</body></html>')
    monkeypatch.setattr(D, 'TINY_URL', f'{url}/tiny-imagenet-200.zip')
    root = tmp_path/'data'
    with pytest.raises(DataMissingError, match=r'bytes, the published one 248,100,043') as e: D.fetch_dataset('tinyimagenet', root)
    assert 'unzip it into' in str(e.value) and not list(root.iterdir())                # no zip, no .part
    _pin(monkeypatch, www/'tiny-imagenet-200.zip')                                     # right size and checksum, still no zip
    with pytest.raises(DataMissingError, match='not a usable tinyimagenet archive') as e: D.fetch_dataset('tinyimagenet', root)
    assert 'removed' in str(e.value) and not list(root.iterdir())

def test_zip_without_the_expected_structure_is_refused(tmp_path, server, monkeypatch):
    www, url = server
    with zipfile.ZipFile(www/'tiny-imagenet-200.zip', 'w') as z: z.writestr('tiny-imagenet-200/readme.txt', 'x')
    monkeypatch.setattr(D, 'TINY_URL', f'{url}/tiny-imagenet-200.zip'); _pin(monkeypatch, www/'tiny-imagenet-200.zip')
    with pytest.raises(DataMissingError, match=r"lacks \['wnids.txt'"): D.fetch_dataset('tinyimagenet', tmp_path/'data')
    assert not (tmp_path/'data'/'tiny-imagenet-200').exists() and not (tmp_path/'data'/'tiny-imagenet-200.zip').exists()

def test_checked_tinyimagenet_download_extracts_and_loads(tmp_path, server, monkeypatch):
    www, url = server
    _tiny_zip(www/'tiny-imagenet-200.zip')
    monkeypatch.setattr(D, 'TINY_URL', f'{url}/tiny-imagenet-200.zip'); _pin(monkeypatch, www/'tiny-imagenet-200.zip')
    ds = D.load_tinyimagenet(tmp_path/'data', download=True)
    assert ds.classes == ['apple', 'banana'] and len(ds) == 2 and D.is_present('tinyimagenet', tmp_path/'data')
    assert [p.name for p in (tmp_path/'data').iterdir() if p.name.startswith('.')] == []      # no temporary folder left

def test_dead_link_and_http_error_are_typed(tmp_path, server, monkeypatch):
    www, url = server
    monkeypatch.setattr(D, 'TINY_URL', f'{url}/nothing-here.zip')
    with pytest.raises(DataMissingError, match='HTTP 404'): D.fetch_dataset('tinyimagenet', tmp_path/'a')
    monkeypatch.setattr(D, 'TINY_URL', f'http://127.0.0.1:{_free_port()}/tiny-imagenet-200.zip')
    with pytest.raises(DataMissingError, match='no connection'): D.fetch_dataset('tinyimagenet', tmp_path/'b')
    assert not list((tmp_path/'b').glob('*'))

def _cifar_tgz(path:Path):
    with tarfile.open(path, 'w:gz') as t:
        for name in ('test_batch', 'batches.meta'):
            b = name.encode(); ti = tarfile.TarInfo(f'cifar-10-batches-py/{name}'); ti.size = len(b); t.addfile(ti, io.BytesIO(b))

def test_cifar_archive_is_checked_against_torchvisions_md5(tmp_path, server, monkeypatch):
    import torchvision
    for name, cls in (('cifar10', torchvision.datasets.CIFAR10), ('cifar100', torchvision.datasets.CIFAR100)):
        u, folder, files, md5 = D.CIFAR_ARCHIVES[name]
        assert (u, md5, files[0]) == (cls.url, cls.tgz_md5, cls.test_list[0][0]) and folder == cls.base_folder and files[1] == cls.meta['filename']
    www, url = server
    _cifar_tgz(www/'cifar-10-python.tar.gz')
    monkeypatch.setitem(D.CIFAR_ARCHIVES, 'cifar10', (f'{url}/cifar-10-python.tar.gz', *D.CIFAR_ARCHIVES['cifar10'][1:]))
    with pytest.raises(DataMissingError, match='MD5 is not the published'): D.fetch_dataset('cifar10', tmp_path/'data')
    assert not list((tmp_path/'data').iterdir())
    good = hashlib.md5((www/'cifar-10-python.tar.gz').read_bytes()).hexdigest()
    monkeypatch.setitem(D.CIFAR_ARCHIVES, 'cifar10', (*D.CIFAR_ARCHIVES['cifar10'][:3], good))
    D.fetch_dataset('cifar10', tmp_path/'data')
    assert D.is_present('cifar10', tmp_path/'data') and (tmp_path/'data'/'cifar-10-batches-py'/'test_batch').read_bytes() == b'test_batch'

# ---- images, classes, folders: every fault one line, all bad files at once, before any kernel

def test_unusable_images_are_listed_all_at_once_before_any_kernel(tmp_path, capsys):
    pics = _pictures(tmp_path/'pics'); bad = _faults(pics)
    t = time.perf_counter()
    rc, _, err = _run(['reproduce', '--preset', 'smoke', '--datasets', f'imagefolder:{pics}', '--out', str(tmp_path/'o'), '--root', str(tmp_path/'d')], capsys)
    assert rc == 1 and time.perf_counter() - t < 10
    _one_line(err)
    assert all(str(p) in err for p in bad) and '3 file(s)' in err and 'empty file' in err and '--skip-bad' in err
    assert not (tmp_path/'o'/'notebooks').exists()

def test_skip_bad_leaves_them_out_and_changes_the_fingerprint(tmp_path):
    pics = _pictures(tmp_path/'pics'); bad = _faults(pics)
    name = f'imagefolder:{pics}'
    r = check_run('smoke', [name], tmp_path/'o', tmp_path/'d', skip_bad=True)
    assert sorted(r['skip'][name]) == sorted(map(str, bad)) and len(r['bad']) == 3
    ds = own_dataset(name); kept = without_files(ds, r['skip'][name])
    assert len(kept) == len(ds) - 3 and kept.fingerprint != ds.fingerprint and not set(map(str, bad)) & set(kept.images)

def test_many_unusable_files_go_to_a_list_beside_the_run(tmp_path):
    pics = _pictures(tmp_path/'pics', n=2)
    for i in range(25): (pics/'apple'/f'broken{i:02d}.jpg').write_bytes(b'\xff\xd8 not really')
    with pytest.raises(BadImageError, match=r'25 file\(s\).*all 25 in') as e: check_run('smoke', [f'imagefolder:{pics}'], tmp_path/'o', tmp_path/'d')
    assert len((tmp_path/'o'/'unusable_images.txt').read_text().splitlines()) == 25 and str(e.value).count('broken') == 20

@pytest.mark.parametrize('fault, want', [
    ('one_class', 'has 1 class folder(s) with images'),
    ('csv_missing_file', 'listed in'),
    ('out_is_file', 'is a file, not a folder'),
    ('out_under_file', 'which is a file'),
])
def test_each_fault_is_one_line(tmp_path, capsys, fault, want):
    pics = _pictures(tmp_path/'pics'); out = tmp_path/'o'; ds = f'imagefolder:{pics}'
    if fault == 'one_class': ds = f"imagefolder:{_pictures(tmp_path/'one', classes=('apple',))}"
    if fault == 'csv_missing_file':
        (tmp_path/'list.csv').write_text(f"path,label\n{pics/'apple'/'0.jpg'},apple\n{pics/'banana'/'gone.jpg'},banana\n"); ds = f"csv:{tmp_path/'list.csv'}"
    if fault == 'out_is_file': out.write_text('x')
    if fault == 'out_under_file': (tmp_path/'f').write_text('x'); out = tmp_path/'f'/'o'
    rc, _, err = _run(['reproduce', '--preset', 'smoke', '--datasets', ds, '--out', str(out), '--root', str(tmp_path/'d')], capsys)
    assert rc in (1, 2) and want in err, err
    _one_line(err)

@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0, reason='root writes into read-only folders')
def test_read_only_root_is_one_line(tmp_path, capsys):
    ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o500)
    try:
        with pytest.raises(DataError, match='--root .* is not writable'): check_writable(ro/'data', '--root')
        rc, _, err = _run(['reproduce', '--preset', 'smoke', '--root', str(ro), '--out', str(tmp_path/'o')], capsys)
        assert rc == 1 and 'not writable' in err; _one_line(err)
    finally: ro.chmod(0o700)

def test_check_writable_creates_nothing(tmp_path):
    assert check_writable(tmp_path/'a'/'b', '--out') == tmp_path/'a'/'b' and not (tmp_path/'a').exists()

# ---- references: what the notebook would refuse, refused before it

def test_paid_references_are_refused_before_any_kernel(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    pics = _pictures(tmp_path/'pics')
    rc, _, err = _run(['reproduce', '--preset', 'clean', '--datasets', f'imagefolder:{pics}', '--overrides', '{"generator": "openai"}',
                       '--out', str(tmp_path/'o'), '--root', str(tmp_path/'d')], capsys)
    assert rc == 2 and 'OPENAI_API_KEY is not set' in err; _one_line(err)
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-test-0123456789abcdef')
    many = _pictures(tmp_path/'many', classes=[f'c{i:02d}' for i in range(20)], n=1)
    rc, _, err = _run(['reproduce', '--preset', 'clean', '--datasets', f'imagefolder:{many}', '--overrides', '{"generator": "openai"}',
                       '--out', str(tmp_path/'o'), '--root', str(tmp_path/'d')], capsys)
    from zsc_nb.generation import create_generator
    est = 20 * 2 * create_generator('openai').price_per_image                   # 20 classes × K=2 at the run's own price
    assert est > 1 and rc == 1 and f'would cost about ${est:.2f}' in err and 'zsc-nb references --dataset imagefolder:' in err and '--yes' in err
    _one_line(err)

def test_references_and_import_store_where_reproduce_looks(tmp_path, capsys):
    from zsc_nb.config import get_preset
    from zsc_nb.folders import dataset_slug
    from zsc_nb.reproduce import references_for
    pics = _pictures(tmp_path/'pics'); name = f'imagefolder:{pics}'; root = tmp_path/'d'
    imp = tmp_path/'imp'; imp.mkdir()
    for i, c in enumerate(('apple', 'banana', 'cherry')): Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(imp/f'{c}.png')
    rc, _, err = _run(['import-references', str(imp), '--dataset', name, '--root', str(root)], capsys)
    assert rc == 0, err
    assert (root/'references'/dataset_slug(name)/'imported'/'manifest.jsonl').is_file()
    refs = references_for(get_preset('clean', name, generator='imported'), ['apple', 'banana', 'cherry'], root)
    assert len(refs.items) == 3
    rc, _, err = _run(['references', '--dataset', name, '--generator', 'procedural', '--llm', 'none', '--k', '1', '--root', str(root)], capsys)
    assert rc == 0, err
    refs = references_for(get_preset('smoke', name, k_refs=1), ['apple', 'banana', 'cherry'], root, k_generate=1)   # found, none made again
    assert len(refs.items) == 3 and all(str(root/'references'/dataset_slug(name)/'procedural') in p for p in refs.items)

# ---- the offline try on any folder

def test_procedural_draws_a_deterministic_smoke_stand_in_for_any_class():
    from zsc_nb.generation import ProceduralImages, draw_any
    g = ProceduralImages(); g.check_classes(['apple', 'Granny Smith', 'circle'])
    a1, a2, b = (np.asarray(Image.open(io.BytesIO(g.generate('', 7, c)[0]))) for c in ('apple', 'apple', 'banana'))
    assert a1.shape == (64, 64, 3) and np.array_equal(a1, a2) and not np.array_equal(a1, b)
    assert not np.array_equal(draw_any('apple', 1), draw_any('apple', 2))     # seeds still vary the drawing
    with pytest.raises(ConfigError): g.check_classes(['apple', ''])

# ---- one line, always: typed errors come back from a notebook (two tiny kernels)

def _nb(path:Path, code:str):
    import nbformat
    nb = nbformat.v4.new_notebook(); nb.cells = [nbformat.v4.new_code_cell('x = 1', metadata={'tags': ['parameters']}), nbformat.v4.new_code_cell(code)]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    nbformat.write(nb, str(path))

def test_notebook_errors_come_back_typed_and_leave_no_partial_notebook(tmp_path, monkeypatch):
    import zsc_nb.reproduce as R
    runs = tmp_path/'runs'; runs.mkdir(); out = tmp_path/'out'
    _nb(runs/'typed.ipynb', "from zsc_nb.data import DataMissingError\nraise DataMissingError('cifar10 is not in /x', 'place it there')")
    _nb(runs/'bug.ipynb', "{}['no such key']")
    monkeypatch.setattr(R, 'runs_dir', lambda: runs)
    with pytest.raises(DataMissingError) as e: R.run_notebook('typed', out, {}, out/'results'/'t.json')
    assert str(e.value) == 'cifar10 is not in /x — place it there' and e.value.exit_code == 1
    with pytest.raises(RuntimeError, match=r"notebook bug  failed: KeyError: 'no such key'"): R.run_notebook('bug', out, {}, out/'results'/'b.json')
    assert list((out/'notebooks').iterdir()) == []
    assert type(typed_error('CostGuardError', 'x')).__name__ == 'CostGuardError' and typed_error('ConfigError', 'x').exit_code == 2

def test_bug_keeps_the_word_report(capsys, monkeypatch):
    import zsc_nb.cli as C
    monkeypatch.setattr(C, '_bench', lambda args: {}['x'])
    rc, _, err = _run(['bench'], capsys)
    assert rc == 1 and 'report it' in err and err.count('\n') == 1

# ---- tables never from missing inputs

def test_a_result_that_vanishes_during_the_run_stops_the_tables(tmp_path, monkeypatch):
    import zsc_nb.reproduce as R
    from zsc_nb.results import write_result
    def fake(name, out, params, result, upstream=(), force=False, outputs=(), inputs=None):
        if name != 'evaluate': write_result(result, {'figures': []}, 'k-' + name)   # the evaluation JSON is never there
        return True, 'k-' + name, 0.0
    monkeypatch.setattr(R, 'run_notebook', fake)
    with pytest.raises(DataError, match=r'eval_smoke_shapes.json is missing'): R.reproduce('smoke', out=tmp_path/'o', root=tmp_path/'d', progress=False)
    assert not (tmp_path/'o'/'REPORT.md').exists() and not (tmp_path/'o'/'tables').exists()
    with pytest.raises(DataError, match='run the same command again'):
        verify_results(tmp_path/'o', [dict(notebook='figures', result='results/figures_smoke.json', run_key='other')])

def test_input_fingerprint_follows_files_and_references(tmp_path):
    from zsc_nb.config import get_preset
    from zsc_nb.generation import generate_references
    from zsc_nb.folders import dataset_slug
    pics = _pictures(tmp_path/'pics'); cfg = get_preset('smoke', f'imagefolder:{pics}'); root = tmp_path/'d'
    f0 = input_fingerprint(cfg, root)
    assert f0 == input_fingerprint(cfg, root)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(pics/'apple'/'new.png'); f1 = input_fingerprint(cfg, root)
    (pics/'banana'/'0.jpg').unlink(); f2 = input_fingerprint(cfg, root)
    generate_references({'apple': 'a'}, dataset_slug(cfg.dataset), 'procedural', 1, root/'references', progress=False); f3 = input_fingerprint(cfg, root)
    assert len({f0, f1, f2, f3}) == 4 and input_fingerprint(cfg, root, [str(pics/'apple'/'1.png')]) != f3

# ---- classify

def test_classify_inputs_are_one_line(tmp_path, capsys):
    pics = _pictures(tmp_path/'pics', n=2)
    rc, _, err = _run(['classify', str(pics), '--classes-file', str(tmp_path/'nope.txt'), '--clip', 'tiny-clip'], capsys)
    assert rc == 1 and str(tmp_path/'nope.txt') in err; _one_line(err)
    (pics/'apple'/'letter.jpg').write_text('Dear Sir')
    (pics/'.hidden').mkdir(); (pics/'.hidden'/'x.jpg').write_bytes(b'')        # hidden: not a picture, not an error
    rc, _, err = _run(['classify', str(pics), '--classes', 'apple', 'banana', '--clip', 'tiny-clip'], capsys)
    assert rc == 1 and str(pics/'apple'/'letter.jpg') in err and '1 file(s)' in err and '--skip-bad' in err; _one_line(err)
    files, classes, bad = classify_inputs(pics, ['apple', 'banana'], skip_bad=True)
    assert len(files) == 6 and [Path(p).name for p, _ in bad] == ['letter.jpg'] and classes == ['apple', 'banana']

# ---- torchrun: the same config, the same cache keys as reproduce

def test_distributed_writes_the_cache_entries_reproduce_reads(tmp_path):
    from zsc_nb import distributed
    from zsc_nb.config import config_from
    from zsc_nb.reproduce import prepare
    pics = _pictures(tmp_path/'pics', n=3); root = tmp_path/'d'; name = f'imagefolder:{pics}'
    (pics/'apple'/'broken.jpg').write_bytes(b'')                 # left out by both, the same way
    ov = dict(clip='tiny-clip', dino='tiny-dino', generator='procedural', llm='scripted', device='cpu', smoke=True)
    distributed.main(['--preset', 'authors', '--dataset', name, '--root', str(root), '--overrides', json.dumps(ov), '--skip-bad'])   # world 1
    before = {p: p.stat().st_mtime_ns for p in (root/'cache').rglob('image-*.npz')}
    assert len(before) == 4                                      # test set and references × CLIP and DINO
    cfg = config_from('authors', name, ov)
    assert cfg.preprocess == 'authors'                           # the authors' preprocessing is in the key both wrote
    skip = check_run('authors', [name], tmp_path/'o', root, overrides=ov, skip_bad=True)['skip'][name]
    F = prepare(cfg, str(root.resolve()), progress=False, skip=skip)
    after = {p: p.stat().st_mtime_ns for p in (root/'cache').rglob('image-*.npz')}
    assert after == before and len(F.labels) == 9                # no image feature computed again, none written elsewhere

def test_imagenet_missing_is_one_line_before_any_kernel(tmp_path, capsys):
    "ImageNet cannot be downloaded: without its folder, reproduce says where to put it, in one line, and writes nothing."
    rc, _, err = _run(['reproduce', '--preset', 'smoke', '--datasets', 'imagenet', '--root', str(tmp_path/'data'),
                       '--out', str(tmp_path/'out')], capsys)
    assert rc == 1 and 'imagenet' in err and 'imagenet/val/<wnid>/*.JPEG' in err, err
    _one_line(err)
    assert not (tmp_path/'out').exists()
