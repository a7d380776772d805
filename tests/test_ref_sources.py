"""The authors' released references (stand-in archives served from 127.0.0.1, pinned blob ids computed here) and
export → import of references as an imagefolder data set."""
import functools, hashlib, json, os, threading, zipfile
from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
import numpy as np, pytest
from zsc_nb.cli import main
from zsc_nb.data import CIFAR10_CLASSES, SHAPES_CLASSES
from zsc_nb.generation import png_bytes, read_manifest, references_dir, sha256_file
from zsc_nb import ref_sources
from zsc_nb.ref_sources import authors_references, git_blob_id, ArchiveMismatch, export_references, import_export

C10 = list(CIFAR10_CLASSES)

def _png(seed, side=40): return png_bytes(np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8))

@pytest.fixture
def site(tmp_path, monkeypatch):
    "Stand-in archives (synthetic images, not the authors') on a local http.server; the pinned table points at them."
    d = tmp_path/'site'; d.mkdir()
    with zipfile.ZipFile(d/'cifar10_dalle.zip', 'w') as z:
        for i, c in enumerate(C10):
            z.writestr(f'cifar10_dalle/{c}.png', _png(2 * i)); z.writestr(f'cifar10_dalle/{c}1.png', _png(2 * i + 1))
        z.writestr('__MACOSX/cifar10_dalle/._cat.png', b'\x00\x05\x16\x07 resource fork'); z.writestr('cifar10_dalle/', b'')
    with zipfile.ZipFile(d/'pic_DALL-E_all.zip', 'w') as z:
        z.writestr('pic_DALL-E_all/DALL·E 2024-01-24 14.22.57 - A realistic image of a desk showcasing its essential features_ A flat.png', _png(50))
        z.writestr('pic_DALL-E_all/DALL·E 2024-01-24 14.25.36 - A realistic image of a dining table showcasing its features.png', _png(51))
    (d/'cifar100_dalle.zip').write_bytes(b'PK\x03\x04 these are not the pinned bytes')
    pinned = {'cifar10': ('cifar10_dalle.zip', git_blob_id(d/'cifar10_dalle.zip')), 'tinyimagenet': ('pic_DALL-E_all.zip', git_blob_id(d/'pic_DALL-E_all.zip')),
              'cifar100': ('cifar100_dalle.zip', '81e98125cc862a5a527db3f24a4631a4ea4d46e9')}     # the real id: the stand-in differs
    for k, v in pinned.items(): monkeypatch.setitem(ref_sources.AUTHORS_ARCHIVES, k, v)
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(d)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv('ZSC_NB_AUTHORS_REFS_URL', f'http://127.0.0.1:{srv.server_address[1]}')
    monkeypatch.delenv('OPENAI_API_KEY', raising=False); monkeypatch.delenv('OPENAI_BASE_URL', raising=False)
    monkeypatch.setattr('zsc_nb.api_models.load_dotenv', lambda *a, **k: {})
    yield d
    srv.shutdown(); srv.server_close()

def test_git_blob_id_is_gits():
    import subprocess, tempfile
    with tempfile.TemporaryDirectory() as t:
        p = Path(t)/'f'; p.write_bytes(b'hello\n')
        assert git_blob_id(p) == 'ce013625030ba8dba906f756967f9e9ca394464a'
        try: assert git_blob_id(p) == subprocess.run(['git', 'hash-object', str(p)], capture_output=True, text=True, check=True).stdout.strip()
        except FileNotFoundError: pass

def test_pinned_table_is_protocol_section_7(monkeypatch):
    assert ref_sources.AUTHORS_COMMIT == 'a867e264ed26a69dabbcce9f95c01b8345c1bcbf'
    assert ref_sources.AUTHORS_ARCHIVES['cifar10'][1] == 'af7bd976f0bf7f047c70e871b3d5df38dc590336'
    assert ref_sources.AUTHORS_ARCHIVES['tinyimagenet'] == ('pic_DALL-E_all.zip', '2df2f510713b1ea8475ce3e1824f6e604d4aea17')
    monkeypatch.delenv('ZSC_NB_AUTHORS_REFS_URL', raising=False)
    assert ref_sources.authors_url_base() == 'https://github.com/1134112149/MICW-ZIC/raw/a867e264ed26a69dabbcce9f95c01b8345c1bcbf'

def test_cli_references_generator_authors_without_a_key(site, tmp_path, capsys):
    root = tmp_path/'data'
    assert main(['references', '--dataset', 'cifar10', '--generator', 'authors', '--root', str(root)]) == 0
    out = capsys.readouterr().out
    assert '20 file(s) imported from cifar10_dalle.zip' in out and 'git blob id checked' in out
    folder = references_dir('cifar10', 'authors', root/'references'); man = read_manifest(folder)
    assert sorted({c for c, _ in man}) == sorted(C10) and len(man) == 20
    assert json.loads((folder/'SOURCE.json').read_text())['commit'] == ref_sources.AUTHORS_COMMIT
    assert (root/'downloads'/'authors'/'cifar10_dalle.zip').exists() and not list(root.rglob('*.part'))
    assert main(['references', '--dataset', 'cifar10', '--generator', 'authors', '--root', str(root)]) == 0     # kept: nothing new
    assert '0 file(s) imported' in capsys.readouterr().out and len(read_manifest(folder)) == 20

def test_a_file_whose_hash_differs_is_refused_and_nothing_is_imported(site, tmp_path, capsys):
    root = tmp_path/'data'
    with pytest.raises(ArchiveMismatch, match=r'cifar100_dalle.zip .*has git blob id [0-9a-f]{40}, not 81e98125'):
        authors_references('cifar100', ['apple'], root/'references')
    rc = main(['references', '--dataset', 'cifar100', '--generator', 'authors', '--root', str(root)])
    err = capsys.readouterr().err.split('\n')[-2]                                  # the last line (after the download's progress)
    assert rc == 1 and err.startswith('zsc-nb: error: cifar100_dalle.zip') and 'nothing was imported' in err
    assert not (root/'references'/'cifar100').exists() and not [p for p in root.rglob('*') if p.is_file()]   # no archive, no .part, no image
    (site/'cifar10_dalle.zip').write_bytes((site/'cifar10_dalle.zip').read_bytes()[:-7] + b'changed')        # the server's copy altered
    with pytest.raises(ArchiveMismatch): authors_references('cifar10', C10, root/'references')
    assert not (root/'references'/'cifar10').exists()

def test_tinyimagenet_dalle_names_through_the_importer(site, tmp_path):
    rep = authors_references('tinyimagenet', ['desk', 'dining_table', 'goldfish'], tmp_path/'refs')
    assert rep['imported'] == 2 and rep['classes_without_reference'] == ['goldfish']
    assert {r['class'] for r in read_manifest(rep['folder']).values()} == {'desk', 'dining_table'}

def test_reproduce_authors_preset_gets_the_authors_references_with_no_key(site, tmp_path):
    from zsc_nb.config import get_preset
    from zsc_nb.reproduce import references_for
    cfg = get_preset('authors', 'cifar10')
    assert cfg.generator == 'authors'
    refs = references_for(cfg, C10, tmp_path)
    assert len(refs.items) == 20 and sorted(set(refs.labels.tolist())) == list(range(10))
    assert all('/authors/' in str(p) for p in refs.items)

def test_unknown_data_set_for_authors_is_a_usage_error(site, tmp_path, capsys):
    rc = main(['references', '--dataset', 'shapes', '--generator', 'authors', '--root', str(tmp_path/'data')])
    err = capsys.readouterr().err
    assert rc == 2 and 'cifar10, cifar100, tinyimagenet only' in err and not (tmp_path/'data').exists()

def test_export_import_round_trip_byte_identical(tmp_path, capsys):
    root = tmp_path/'data'
    assert main(['references', '--dataset', 'shapes', '--llm', 'scripted', '--generator', 'procedural', '--k', '2', '--root', str(root)]) == 0
    out = tmp_path/'shared'
    assert main(['export-references', '--dataset', 'shapes', '--out', str(out), '--root', str(root)]) == 0
    assert '24 image(s) of 12 class(es) from procedural' in capsys.readouterr().out
    card = (out/'README.md').read_text()
    assert card.startswith('---\n') and 'procedural-shapes' in card and 'license:' in card and 'export-references` on 20' in card and 'SMOKE' in card
    meta = [json.loads(l) for l in (out/'metadata.jsonl').read_text().splitlines()]
    assert len(meta) == 24 and all((out/m['file_name']).is_file() for m in meta)
    assert {m['label'] for m in meta} == set(range(12)) and all(SHAPES_CLASSES[m['label']] == m['class_name'] for m in meta)
    assert json.loads((out/'prompts.json').read_text())['backend'] == 'scripted' and len(json.loads((out/'transcript.json').read_text())) >= 4
    assert len((out/'manifest.jsonl').read_text().splitlines()) == 24
    back = tmp_path/'back'
    assert main(['import-references', str(out), '--dataset', 'shapes', '--root', str(back)]) == 0
    src = read_manifest(references_dir('shapes', 'procedural', root/'references'))
    dst = read_manifest(references_dir('shapes', 'imported', back/'references'))
    assert {(r['class'], r['sha256']) for r in src.values()} == {(r['class'], r['sha256']) for r in dst.values()}   # byte-identical
    assert all(sha256_file(references_dir('shapes', 'imported', back/'references')/r['file']) == r['sha256'] for r in dst.values())
    assert {r['prompt'] for r in dst.values()} == {r['prompt'] for r in src.values()} and {r['model'] for r in dst.values()} == {'procedural-shapes'}
    assert main(['import-references', str(out), '--dataset', 'shapes', '--root', str(back)]) == 0                  # again: nothing new
    assert len(read_manifest(references_dir('shapes', 'imported', back/'references'))) == 24
    rc = main(['import-references', str(out), '--dataset', 'cifar10', '--root', str(tmp_path/'wrong')])          # other classes: refused whole
    assert rc == 1 and 'nothing was imported' in capsys.readouterr().err and not (tmp_path/'wrong').exists()

def test_export_is_read_by_datasets_imagefolder(tmp_path, monkeypatch):
    datasets = pytest.importorskip('datasets')
    monkeypatch.setenv('HF_DATASETS_OFFLINE', '1'); monkeypatch.setenv('HF_HOME', str(tmp_path/'hf'))
    root = tmp_path/'data'
    assert main(['references', '--dataset', 'shapes', '--llm', 'none', '--generator', 'procedural', '--k', '1', '--root', str(root)]) == 0
    export_references('shapes', SHAPES_CLASSES, tmp_path/'shared', root=root/'references', prompts_root=root/'prompts')
    ds = datasets.load_dataset('imagefolder', data_dir=str(tmp_path/'shared'), split='train', cache_dir=str(tmp_path/'hf'))
    assert len(ds) == 12 and {'image', 'label', 'class_name', 'prompt', 'sha256', 'model'} <= set(ds.column_names)
    row = ds[0]
    assert SHAPES_CLASSES[row['label']] == row['class_name'] and row['image'].size == (64, 64)

def test_export_refuses_a_non_empty_folder_and_names_several_sources(tmp_path, capsys):
    root = tmp_path/'data'
    assert main(['references', '--dataset', 'shapes', '--llm', 'none', '--generator', 'procedural', '--k', '1', '--root', str(root)]) == 0
    (tmp_path/'full').mkdir(); (tmp_path/'full'/'x').write_text('x')
    assert main(['export-references', '--dataset', 'shapes', '--out', str(tmp_path/'full'), '--root', str(root)]) == 2
    assert 'not an empty folder' in capsys.readouterr().err and (tmp_path/'full'/'x').read_text() == 'x'
    (references_dir('shapes', 'openai', root/'references')).mkdir(parents=True)
    (references_dir('shapes', 'openai', root/'references')/'manifest.jsonl').write_text('')
    assert main(['export-references', '--dataset', 'shapes', '--out', str(tmp_path/'o'), '--root', str(root)]) == 2
    assert 'several sources: openai, procedural' in capsys.readouterr().err and not (tmp_path/'o').exists()

def test_authors_preset_uses_the_archives_only_where_they_exist():
    from zsc_nb.config import get_preset, validate_config
    from zsc_nb.errors import ConfigError
    assert [get_preset('authors', d).generator for d in ('cifar10', 'cifar100', 'tinyimagenet', 'cifarplus10')] == ['authors'] * 4
    assert get_preset('authors', 'shapes').generator == 'auto' and get_preset('clean', 'cifar10').generator == 'auto'
    with pytest.raises(ConfigError, match="generator 'authors'.*not shapes"): validate_config(get_preset('clean', 'shapes', generator='authors'))
