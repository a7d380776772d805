"""Fault injection against a fake OpenAI-compatible server on 127.0.0.1 (tests/fake_openai.py).

For every fault: nothing paid for is lost, nothing is duplicated or corrupt, no temporary file is left, a rerun
after completion makes zero requests, and the canary API key appears in no file written and no output printed.
Retry delays are tiny (env ZSC_NB_RETRY_BASE), so the whole file runs in seconds."""
import hashlib, json, logging, os, signal, socket, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest
from fake_openai import FakeOpenAI
from zsc_nb.cli import main
from zsc_nb.errors import ZscError, ConfigError, DataError, AuthError, APIRefusal, APIExhausted, BadImageError, WeightsMissingError
from zsc_nb.prompting import OpenAIChat, get_prompts, with_retries
from zsc_nb.generation import (generate_references, OpenAIImages, read_manifest, references_dir, png_bytes,
                               make_references)
from zsc_nb.references import import_references, load_references

KEY = 'sk-canary-DO-NOT-LEAK-7f3a9c2e1b'
C10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']

@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv('ZSC_NB_RETRY_BASE', '0.005'); monkeypatch.delenv('ZSC_NB_DEBUG', raising=False)
    monkeypatch.setenv('OPENAI_API_KEY', KEY); monkeypatch.delenv('OPENAI_BASE_URL', raising=False)

def no_leak(root, *texts):
    "The canary key is in no file under `root` and in none of `texts` (captured output, logs)."
    leaked = [p for p in Path(root).rglob('*') if p.is_file() and KEY.encode() in p.read_bytes()]
    assert not leaked and not any(KEY in str(t) for t in texts)

def intact(folder, expect=None):
    "Every manifest line names a distinct (class, k) whose file exists with its sha256, is a PNG, and no temporary file is left."
    folder = Path(folder); lines = [json.loads(l) for l in (folder/'manifest.jsonl').read_text().splitlines()]
    assert len({(r['class'], r['k']) for r in lines}) == len(lines)                          # nothing duplicated
    for r in lines:
        data = (folder/r['file']).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r['sha256'] and data[:8] == b'\x89PNG\r\n\x1a\n'   # nothing corrupt
    assert not [p for p in folder.rglob('*') if p.suffix in ('.part', '.tmp')]                # no temporary file
    if expect is not None: assert len(lines) == expect
    return lines

P3 = {c: f'generate an image of {c}. As realistic as possible. More fit for life.' for c in ['cat', 'dog', 'ship']}

LOCAL = 'fake-image-model'    # a compatible server's own model name: no OpenAI size/quality rules apply

def gen(srv, **kw): return OpenAIImages(LOCAL, size=kw.pop('size', '64x64'), base_url=srv.base_url, price_per_image=kw.pop('price_per_image', 0.0), **kw)

def run(srv, root, prompts=P3, k=2, **kw):
    return generate_references(prompts, 'c10', kw.pop('g', None) or gen(srv, **kw.pop('gkw', {})), k=k, root=root, progress=False, **kw)

# ---- transient faults: retried (bounded), then every image is there once and intact
TRANSIENT = {'429 with Retry-After': [('429', 0.2)], '5xx burst': [('500',), ('503',), ('500',)], 'connection cut mid-answer': [('cut',)],
             'malformed JSON': [('malformed',)], 'empty data list': [('empty',)], 'not base64': [('badb64',)],
             'text file, not an image': [('text',)], 'truncated PNG': [('truncated',)], 'tiny 1x1 PNG': [('tiny',)]}

@pytest.mark.parametrize('fault', TRANSIENT)
def test_transient_image_faults_are_retried(tmp_path, fault, capsys, caplog):
    caplog.set_level(logging.INFO)
    with FakeOpenAI(images=TRANSIENT[fault]) as srv:
        t = time.time(); rep = run(srv, tmp_path, concurrency=1); took = time.time() - t
        assert rep.ok and len(rep.made) == 6 and len(srv.image_requests) == 6 + len(TRANSIENT[fault])
        if fault.startswith('429'): assert took >= 0.2                                         # Retry-After honoured
    lines = intact(rep.folder, 6)
    assert all(r['size'] == '64x64' for r in lines)
    with FakeOpenAI() as srv2:
        again = run(srv2, tmp_path)
        assert again.ok and srv2.requests == [] and len(again.reused) == 6                     # rerun: zero requests
    no_leak(tmp_path, *capsys.readouterr(), caplog.text)

def test_reply_slower_than_the_timeout_is_retried(tmp_path):
    with FakeOpenAI(images=[('slow', 1.5)]) as srv:
        t = time.time(); rep = run(srv, tmp_path, prompts={'cat': 'p'}, k=1, gkw=dict(timeout=0.3)); took = time.time() - t
    assert rep.ok and len(srv.image_requests) == 2 and took < 1.5
    intact(rep.folder, 1)

def test_jpeg_answer_is_stored_as_png(tmp_path):
    with FakeOpenAI(images=[('jpeg',)]) as srv: rep = run(srv, tmp_path, prompts={'cat': 'p'}, k=1)
    assert rep.ok and len(srv.image_requests) == 1
    intact(rep.folder, 1)

def test_a_persistent_fault_fails_that_image_only(tmp_path, capsys):
    with FakeOpenAI(images=[('tiny',)] * 6) as srv:                  # every attempt of the first image is 1x1
        rep = run(srv, tmp_path, concurrency=1, max_retries=5)
    assert len(rep.failed) == 1 and len(rep.made) == 5 and 'smaller than 64x64' in rep.failed[0][2]
    intact(rep.folder, 5)                                             # the 1x1 PNG was never saved
    with FakeOpenAI() as srv:
        rep2 = run(srv, tmp_path)
        assert rep2.ok and len(srv.image_requests) == 1                # only the missing one is asked again
    intact(rep.folder, 6); no_leak(tmp_path, *capsys.readouterr())

# ---- chat faults
DIALOGUE = [('ok', 'analysis'), ('ok', 'cat and dog - Both are furry'), ('ok', 'no'), ('ok', 'Both cat and dog have fur, four legs.')]

@pytest.mark.parametrize('fault', [[('empty',)], [('500',), ('503',)], [('malformed',)], [('cut',)], [('429', 0.05)]])
def test_chat_faults_are_retried_within_the_conversation(tmp_path, fault):
    with FakeOpenAI(chat=fault + DIALOGUE) as srv:
        art = get_prompts('c10', C10, OpenAIChat(model='m', base_url=srv.base_url), root=tmp_path)
    assert [(p['a'], p['b']) for p in art['pairs']] == [('cat', 'dog')] and len(srv.requests) == 4 + len(fault)
    with FakeOpenAI() as srv2:
        get_prompts('c10', C10, OpenAIChat(model='m', base_url=srv2.base_url), root=tmp_path)
        assert srv2.requests == []                                                              # reused
    assert not list(tmp_path.rglob('*.tmp')); no_leak(tmp_path)

def test_empty_choices_forever_is_a_clear_error_not_an_indexerror(tmp_path):
    with FakeOpenAI(chat=[('empty',)] * 10) as srv:
        with pytest.raises(APIExhausted, match=r'chat completion failed after 5 attempt\(s\) at http://127.0.0.1.*no choices') as e:
            get_prompts('c10', C10, OpenAIChat(model='m', base_url=srv.base_url), root=tmp_path)
    assert 'run the same command again' in str(e.value) and not list(tmp_path.iterdir())       # no half transcript

def test_chat_slower_than_timeout(tmp_path):
    with FakeOpenAI(chat=[('slow', 1.5)] + DIALOGUE) as srv:
        art = get_prompts('c10', C10, OpenAIChat(model='m', base_url=srv.base_url, timeout=0.3), root=tmp_path)
    assert len(art['pairs']) == 1

# ---- permanent faults: reported once, per class, as permanent
def test_content_policy_refusal_is_per_class_and_permanent(tmp_path, capsys):
    prompts = dict(P3, bird='generate an image of bird POLICY_REFUSE')
    with FakeOpenAI() as srv: rep = run(srv, tmp_path, prompts=prompts, k=2, concurrency=1)
    assert list(rep.refused) == ['bird'] and 'refused permanently' in rep.refused['bird'] and 'edit its prompt' in rep.refused['bird']
    assert sum('bird' in r[1]['prompt'] for r in srv.image_requests) == 1                        # asked once, never retried
    assert len(rep.made) == 6 and not rep.failed and not rep.ok
    intact(rep.folder, 6); no_leak(tmp_path, *capsys.readouterr())

def test_cli_reports_a_refusal_without_run_again(tmp_path, capsys):
    pj = tmp_path/'prompts'/'shapes.json'
    assert main(['prompts', '--dataset', 'cifar10', '--llm', 'none', '--root', str(tmp_path)]) == 0
    art = json.loads((tmp_path/'prompts'/'cifar10.json').read_text()); art['prompts']['cat'] += ' POLICY_REFUSE'
    (tmp_path/'prompts'/'cifar10.json').write_text(json.dumps(art))
    with FakeOpenAI() as srv:
        rc = main(['references', '--dataset', 'cifar10', '--llm', 'none', '--generator', 'openai', '--base-url', srv.base_url,
                   '--image-model', LOCAL, '--price-per-image', '0', '--size', '64x64', '--k', '1', '--concurrency', '1', '--root', str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 1 and '1 class(es) refused permanently (retrying will not help)' in err and '  cat: ' in err
    assert 'import-references' in err and 'missing after every retry' not in err
    no_leak(tmp_path, out, err)

@pytest.mark.parametrize('code', ['401', '403'])
def test_auth_failure_stops_at_once_and_names_the_variable_not_the_key(tmp_path, code, capsys, caplog):
    many = {f'c{i}': 'p' for i in range(8)}
    with FakeOpenAI(images=[(code,)] * 50) as srv:
        with pytest.raises(AuthError, match='OPENAI_API_KEY') as e:
            run(srv, tmp_path, prompts=many, k=2, concurrency=2, yes=True)
        assert len(srv.image_requests) <= 3                           # no retries, no new requests after the first refusal
    assert KEY not in str(e.value) and KEY not in repr(e.value) and e.value.__cause__ is None
    with FakeOpenAI(chat=[(code,)]) as srv:
        rc = main(['prompts', '--dataset', 'cifar10', '--llm', 'openai', '--base-url', srv.base_url, '--root', str(tmp_path)])
        assert len(srv.requests) == 1
    out, err = capsys.readouterr()
    assert rc == 1 and err.startswith('zsc-nb: error: chat completion: the server at http://127.0.0.1') and 'OPENAI_API_KEY' in err
    assert err.count('\n') == 1 and 'Traceback' not in err
    no_leak(tmp_path, out, err, caplog.text)

def test_unreachable_server_names_the_url(tmp_path):
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()       # a closed port
    url = f'http://127.0.0.1:{port}/v1'
    with pytest.raises(APIExhausted, match=f'at {url}') as e:
        get_prompts('c10', C10, OpenAIChat(model='m', base_url=url, max_retries=2), root=tmp_path)
    assert 'APIConnectionError' in str(e.value) and not list(tmp_path.iterdir())

# ---- SIGKILL mid-run, then a rerun
KILL = """
import sys; sys.path.insert(0, sys.argv[2])
from fake_openai import FakeOpenAI
from zsc_nb.generation import generate_references, OpenAIImages
with FakeOpenAI(delay=0.08) as srv:
    print(srv.base_url, flush=True)
    generate_references({f'c{i}': f'p{i}' for i in range(8)}, 'c10', OpenAIImages('fake-image-model', size='64x64', base_url=srv.base_url),
                        k=2, root=sys.argv[1], concurrency=2, progress=False, yes=True)
"""

def test_sigkill_mid_run_then_rerun(tmp_path):
    folder = references_dir('c10', 'openai', tmp_path); mf = folder/'manifest.jsonl'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get('PYTHONPATH', '')]))
    p = subprocess.Popen([sys.executable, '-c', KILL, str(tmp_path), str(Path(__file__).parent)], env=env, stdout=subprocess.DEVNULL)
    t = time.time()
    while (not mf.exists() or len(mf.read_text().splitlines()) < 4) and time.time() - t < 60: time.sleep(0.02)
    p.send_signal(signal.SIGKILL); p.wait()
    done = len(intact(folder))                                          # what was paid for and written is whole
    assert 4 <= done < 16
    with FakeOpenAI() as srv:
        rep = generate_references({f'c{i}': f'p{i}' for i in range(8)}, 'c10', OpenAIImages('fake-image-model', size='64x64', base_url=srv.base_url),
                                  k=2, root=tmp_path, progress=False, yes=True)
        assert rep.ok and len(srv.image_requests) == 16 - done and len(rep.reused) == done
    intact(folder, 16)
    with FakeOpenAI() as srv:
        generate_references({f'c{i}': f'p{i}' for i in range(8)}, 'c10', OpenAIImages('fake-image-model', size='64x64', base_url=srv.base_url),
                            k=2, root=tmp_path, progress=False, yes=True)
        assert srv.requests == []
    no_leak(tmp_path)

# ---- validate first: nothing requested, run or written
def _cli(capsys, *argv):
    rc = main(list(argv)); out, err = capsys.readouterr()
    return rc, out, err

def _one_line(err): assert err.startswith('zsc-nb: error: ') and err.count('\n') == 1 and ' — ' in err and 'Traceback' not in err

@pytest.mark.parametrize('argv, code, want', [
    (['references', '--dataset', 'cifar11'], 2, "unknown dataset 'cifar11'"),
    (['references', '--dataset', 'cifar10', '--k', '0'], 2, 'k must be a whole number'),
    (['references', '--dataset', 'cifar10', '--k', 'two'], 2, "invalid int value: 'two'"),
    (['references', '--dataset', 'cifar10', '--llm', 'openai', '--base-url', 'htp://localhost:1/v1'], 2, "--base-url 'htp://localhost:1/v1' is not an http(s) URL"),
    (['references', '--dataset', 'cifar10', '--generator', 'procedural', '--llm', 'openai'], 2, 'procedural generator only draws the shapes'),
    (['references', '--dataset', 'cifar10', '--generator', 'dalle'], 2, "--generator 'dalle'"),
    (['references', '--dataset', 'cifar10', '--concurrency', '0'], 2, '--concurrency must be at least 1'),
    (['prompts', '--dataset', 'cifar10', '--llm', 'gpt'], 2, "--llm 'gpt' is not a chat backend"),
    (['prompts', '--dataset', 'cifar10', '--timeout', '0'], 2, '--timeout must be a positive'),
    (['reproduce', '--preset', 'smoke', '--datasets', 'shapes', 'cifar11'], 2, "unknown dataset 'cifar11'"),
    (['reproduce', '--preset', 'smoke', '--overrides', '{"k_ref": 4}'], 2, "did you mean 'k_refs'"),
    (['reproduce', '--preset', 'smoke', '--overrides', '{"k_refs": "4"}'], 2, 'k_refs must be int'),
    (['reproduce', '--preset', 'smoke', '--overrides', '{k_refs: 4}'], 2, '--overrides is not valid JSON'),
    (['reproduce', '--preset', 'paper'], 2, "invalid choice: 'paper'"),
    (['import-references', 'NOFOLDER', '--dataset', 'cifar10'], 1, 'does not exist'),
])
def test_cli_usage_errors_are_one_line_and_touch_nothing(tmp_path, monkeypatch, capsys, argv, code, want):
    monkeypatch.chdir(tmp_path)
    argv = [a.replace('NOFOLDER', str(tmp_path/'nope')) for a in argv]
    extra = ['--root', str(tmp_path/'data')] + (['--out', str(tmp_path/'out')] if argv[0] == 'reproduce' else [])
    with FakeOpenAI() as srv:
        if '--base-url' not in argv and argv[0] != 'reproduce' and argv[0] != 'import-references': extra += ['--base-url', srv.base_url]
        t = time.time(); rc, out, err = _cli(capsys, *argv, *extra)
        assert srv.requests == []                                      # nothing paid for
    assert rc == code and want in err and time.time() - t < 5, err
    _one_line(err)
    assert not (tmp_path/'data').exists() and not (tmp_path/'out').exists()   # no file, no kernel spec, no notebook

def test_out_under_a_file(tmp_path, capsys):
    (tmp_path/'f').write_text('x')
    rc, out, err = _cli(capsys, 'reproduce', '--preset', 'smoke', '--out', str(tmp_path/'f'/'run'))
    assert rc == 2 and 'is a file' in err; _one_line(err)

def test_version_usage_and_debug(capsys):
    with pytest.raises(SystemExit) as e: main(['--version'])
    assert e.value.code == 0 and capsys.readouterr().out.startswith('zsc-nb 0.')
    assert main([]) == 2 and 'usage: zsc-nb' in capsys.readouterr().out
    with pytest.raises(ConfigError): main(['--debug', 'references', '--dataset', 'cifar11'])   # --debug: the traceback
    with pytest.raises(ConfigError): main(['references', '--dataset', 'cifar11', '--debug'])
    os.environ['ZSC_NB_DEBUG'] = '1'
    try:
        with pytest.raises(ConfigError): main(['references', '--dataset', 'cifar11'])
    finally: del os.environ['ZSC_NB_DEBUG']

def test_k_is_checked_before_the_dialogue_is_paid_for(tmp_path):
    with FakeOpenAI(chat=DIALOGUE) as srv:
        with pytest.raises(ConfigError, match='k must be'):
            make_references('c10', C10, OpenAIChat(model='m', base_url=srv.base_url), 'openai', k=0, prompts_root=tmp_path/'p', refs_root=tmp_path/'r',
                            gen_kw=dict(base_url=srv.base_url))
        with pytest.raises(ConfigError, match='procedural generator needs class names'):   # any name is drawn (SMOKE), an empty one is not
            make_references('c10', C10 + [' '], OpenAIChat(model='m', base_url=srv.base_url), 'procedural', k=1, prompts_root=tmp_path/'p')
        assert srv.requests == []
    assert not (tmp_path/'p').exists()
    with pytest.raises(ConfigError, match='k_refs must be'): load_references('c10', 'openai', C10, root=tmp_path, k=0)

# ---- import: all or nothing per file, and says what it did
def _img(p, side=40, seed=0): p.write_bytes(png_bytes(np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)))

def test_import_refuses_bad_files_by_name_then_skips_them(tmp_path, capsys):
    src = tmp_path/'src'; src.mkdir()
    _img(src/'cat.png'); _img(src/'dog.png', seed=1); (src/'ship.png').write_text('I am text'); _img(src/'bird.png', side=1, seed=2)
    (src/'frog.png').write_bytes(png_bytes(np.zeros((40, 40, 3), np.uint8))[:50])
    root = tmp_path/'data'
    rc, out, err = _cli(capsys, 'import-references', str(src), '--dataset', 'cifar10', '--root', str(root))
    assert rc == 1 and 'bird.png: image is 1x1' in err and 'frog.png: not a decodable' in err and 'ship.png: not a decodable' in err
    assert '--skip-bad' in err and not root.exists(); _one_line(err)
    rc, out, err = _cli(capsys, 'import-references', str(src), '--dataset', 'cifar10', '--root', str(root), '--skip-bad')
    assert '2 file(s) imported' in out and '3 file(s) were skipped as bad' in err and '8 class(es) have no reference yet' in err
    intact(references_dir('cifar10', 'imported', root/'references'), 2)

def test_import_empty_folder_unknown_mapping_and_mapping_plus_names(tmp_path, capsys):
    src = tmp_path/'src'; src.mkdir(); (src/'notes.txt').write_text('x')
    with pytest.raises(DataError, match='holds no image file'): import_references(src, C10, 'c10', root=tmp_path/'r')
    _img(src/'cat.png'); _img(src/'IMG_0001.png', seed=1); _img(src/'cat_copy.png', seed=0)      # cat_copy: the same bytes as cat.png
    with pytest.raises(ConfigError, match="does not have: {'IMG_0001.png': 'kitten'}"):
        import_references(src, C10, 'c10', mapping={'IMG_0001.png': 'kitten'}, root=tmp_path/'r')
    (tmp_path/'map.json').write_text(json.dumps({'IMG_0001.png': 'dog'}))
    rc, out, err = _cli(capsys, 'import-references', str(src), '--dataset', 'cifar10', '--root', str(tmp_path), '--mapping', str(tmp_path/'map.json'))
    assert '2 file(s) imported' in out and 'cat_copy.png (= cat.png)' in err and 'duplicates' in err
    lines = intact(references_dir('cifar10', 'imported', tmp_path/'references'), 2)
    assert {(r['class'], r['source']) for r in lines} == {('cat', 'cat.png'), ('dog', 'IMG_0001.png')}       # mapping and names combine
    rc, out, err = _cli(capsys, 'import-references', str(src), '--dataset', 'cifar10', '--root', str(tmp_path), '--mapping', str(tmp_path/'map.json'))
    assert '0 file(s) imported' in out and 'already imported' in err
    intact(references_dir('cifar10', 'imported', tmp_path/'references'), 2)

def test_import_authors_dalle_folder(tmp_path):
    classes = ['desk', 'dining_table', 'sea', 'sea_slug', 'goldfish', 'tailed_frog']
    names = ['DALL·E 2024-01-24 14.22.57 - A realistic image of a desk showcasing a flat horizontal surface with four legs.png',
             'DALL·E 2024-01-24 14.23.10 - A realistic image of a dining table with flat horizontal surfaces.png',
             'DALL·E 2024-01-24 14.30.01 - A realistic image of a sea slug, a soft-bodied marine creature.png',
             'DALL·E 2024-01-24 14.31.44 - A tailed frog perched on a mossy rock.png',
             'DALL·E 2024-01-24 14.40.00 - A dining table next to a desk in a bright room.png',
             'DALL·E 2024-01-24 14.41.00 - A photorealistic mountain landscape.png']
    src = tmp_path/'src'; src.mkdir()
    for i, n in enumerate(names): _img(src/n, seed=i)
    rep = import_references(src, classes, 'tinyimagenet', root=tmp_path/'r')
    got = {r['source'][:31]: r['class'] for r in read_manifest(rep['folder']).values()}
    assert sorted(got.values()) == ['desk', 'dining_table', 'sea_slug', 'tailed_frog']       # 'sea slug' beats 'sea': longest name first
    assert rep['ambiguous'] == [names[4]] and rep['unmatched'] == [names[5]]
    assert rep['classes_without_reference'] == ['sea', 'goldfish']

# ---- files keep the user's umask; offline messages point the right way
def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with FakeOpenAI(chat=DIALOGUE) as srv:
            get_prompts('c10', C10, OpenAIChat(model='m', base_url=srv.base_url), root=tmp_path/'p')
            rep = run(srv, tmp_path/'r', prompts={'cat': 'p'}, k=1)
    finally: os.umask(old)
    files = [tmp_path/'p'/'c10.json', rep.folder/'manifest.jsonl', *rep.folder.rglob('*.png')]
    assert len(files) == 3 and all(f.stat().st_mode & 0o777 == 0o644 for f in files)

def test_offline_messages(tmp_path, capsys):
    from zsc_nb.data import load_dataset
    with pytest.raises(DataError) as e: load_dataset('cifar10', root=tmp_path)
    assert 'download=True' in str(e.value) and '--no-download' not in str(e.value) and 'cifar-10-batches-py' in str(e.value)   # an option never given
    rc, out, err = _cli(capsys, 'prompts', '--dataset', 'tinyimagenet', '--llm', 'none', '--root', str(tmp_path))
    assert rc == 1 and 'tinyimagenet is not in' in err; _one_line(err)

def test_sd_turbo_offline_is_weights_missing(monkeypatch):
    pytest.importorskip('diffusers', reason='diffusers is missing (a dev requirement): pip install -e ".[dev]"')
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    from zsc_nb.generation import DiffusersImages
    with pytest.raises(WeightsMissingError, match=r"'zsc-nb-test/no-such-model' is not in the local Hugging Face cache \(HF_HUB_OFFLINE is set\)") as e:
        DiffusersImages('zsc-nb-test/no-such-model', device='cpu')
    assert 'model_index.json' not in str(e.value) and 'procedural' in str(e.value)

def test_reproduce_validates_every_data_set_before_any_notebook(tmp_path):
    from zsc_nb.reproduce import reproduce
    for kw, want in [(dict(datasets=['shapes', 'cifar11']), "unknown dataset 'cifar11'"), (dict(overrides={'k_refs': 0}), 'k_refs must be at least 1'),
                     (dict(overrides={'weighting': 'entropy'}), "weighting 'entropy'"), (dict(overrides={'scales': 'big'}), 'scales must be tuple')]:
        with pytest.raises(ConfigError, match=want): reproduce('smoke', out=tmp_path/'out', progress=False, **kw)
    with pytest.raises(ConfigError, match='unknown preset'): reproduce('paper', out=tmp_path/'out')
    assert not (tmp_path/'out').exists()                               # no kernel spec, no notebook, no folder

def test_an_unexpected_backend_bug_is_not_called_a_server_refusal():
    def bug(): raise TypeError('a bug in our code')
    with pytest.raises(TypeError): with_retries(bug, 3, base=0)

def test_validation_imports_no_torch():
    code = ("import sys; from zsc_nb.cli import main; from zsc_nb.config import validate_config, get_preset\n"
            "validate_config(get_preset('authors')); rc = main(['reproduce', '--overrides', '{\"k_refs\": 0}'])\n"
            "assert rc == 2 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:3]")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent)))
    assert r.returncode == 0, r.stderr


def test_reproduce_reports_refused_classes_as_permanent(monkeypatch, tmp_path):
    "A class refused by the image service stops `reproduce` with APIRefusal naming it and the fix, not a missing-image error."
    import zsc_nb.generation as gen
    from zsc_nb.config import get_preset
    from zsc_nb.errors import APIRefusal
    from zsc_nb.reproduce import references_for
    def fake_make(d, classes, llm, backend, k, **kw):
        return None, gen.GenerationReport(tmp_path, refused={'ring': 'content policy: request rejected'})
    monkeypatch.setattr('zsc_nb.reproduce.make_references', fake_make)      # the name the runner calls
    cfg = get_preset('smoke')
    with pytest.raises(APIRefusal) as e: references_for(cfg, ['circle', 'ring'], tmp_path)
    assert 'ring' in str(e.value) and 'import-references' in str(e.value)
