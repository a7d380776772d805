"A class is its index (and wnid), never its display name; data sets as users' machines save them; prompts looked up by class."
import logging
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from zsc_nb.data import (class_key, unique_classes, load_dataset, class_names, CIFAR10_CLASSES, CIFAR100_CLASSES,
                         CIFAR10_WNIDS, CIFAR100_WNIDS, synset_lemmas)
from zsc_nb.folders import load_csv, load_imagefolder, load_imagenet, imagenet_wnids, imagenet_classnames, clip_benchmark_json
from zsc_nb.templates import PROMPT_VARIANTS, definitions, imagenet_cupl, warn_long, prompt_table, token_counts
from zsc_nb.errors import ConfigError

def _img(i:int, side:int=32) -> np.ndarray:
    "A blocky random picture, distinct per `i` (survives JPEG)."
    a = np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.kron(a, np.ones((side // 8, side // 8, 1), np.uint8))

def _save(p:Path, i:int):
    p.parent.mkdir(parents=True, exist_ok=True); Image.fromarray(_img(i)).save(p)

# ---------------------------------------------------------------- identity of names
def test_imagenet_repeated_names_are_told_apart_by_wordnet():
    raw, names, w = imagenet_classnames(raw=True), imagenet_classnames(), imagenet_wnids()
    assert len(set(raw)) == 998 and len(set(names)) == 1000 == len({class_key(n) for n in names})
    assert (names[657], names[744], names[836], names[837]) == ('missile', 'missile (projectile)', 'sunglasses (sunglass)', 'sunglasses (dark glasses)')
    assert [n for n, r in zip(names, raw) if n != r] == [names[744], names[836], names[837]]   # nothing else renamed
    with pytest.raises(ConfigError, match=r"'missile' at indices \[657, 744\].*'sunglasses' at indices \[836, 837\]"): unique_classes(raw)
    # the rule's fall-back: no distinguishing lemma for either → name (wnid)
    two = unique_classes(['x', 'X '], ['n99999998', 'n99999999'])
    assert two == ['x (n99999998)', 'X (n99999999)']

@pytest.mark.parametrize('a,b', [('café', 'cafe\u0301'), ('Cat', 'cat'), ('dog ', 'dog'), ('sea_lion', 'sea lion'), ('Straße', 'strasse')])
def test_names_equal_after_nfc_casefold_strip_are_one_class(a, b):
    assert class_key(a) == class_key(b)
    with pytest.raises(ConfigError, match='more than once'): unique_classes([a, 'other', b])

def test_imagefolder_merges_folders_that_name_one_class(tmp_path):
    for i, d in enumerate(['café', 'cafe\u0301', 'Dog', 'dog ']): _save(tmp_path/d/f'{i}.png', i)
    ds = load_imagefolder(tmp_path)
    assert ds.classes == ['Dog', 'café'] and sorted(ds.labels.tolist()) == [0, 0, 1, 1] and len(ds) == 4

def test_classnames_txt_repeated_name_is_refused(tmp_path):
    for i, d in enumerate(['a', 'b', 'c']): _save(tmp_path/d/'x.png', i)
    (tmp_path/'classnames.txt').write_text('a\nb\nB \n')
    with pytest.raises(ConfigError, match=r"\['B', 'b'\] more than once"): load_imagefolder(tmp_path)

def _csv_set(tmp_path, labels=('circle', 'square', 'star'), n=2):
    rows = []
    for j, lab in enumerate(labels):
        for k in range(n): _save(tmp_path/'img'/f'{lab}{k}.png', 10 * j + k); rows.append((f'img/{lab}{k}.png', lab))
    return rows

def test_csv_classnames_map_by_name_not_by_position(tmp_path):
    rows = _csv_set(tmp_path)
    (tmp_path/'set.csv').write_text('path,label\n' + '\n'.join(f'{p},{l}' for p, l in rows))
    (tmp_path/'classnames.txt').write_text('star\nCircle\nsquare\n')
    ds = load_csv(tmp_path/'set.csv')
    assert ds.classes == ['star', 'Circle', 'square']
    assert [class_key(ds.classes[y]) for y in ds.labels] == [l for _, l in rows]    # every image keeps its own class
    (tmp_path/'classnames.txt').write_text('dog\ncat\nbird\n')
    with pytest.raises(ConfigError, match=r"not in the file \['circle', 'square', 'star'\], not among the labels \['dog', 'cat', 'bird'\]"):
        load_csv(tmp_path/'set.csv')

def test_wnid_folders_take_their_display_names_in_order(tmp_path):
    w = ['n02123045', 'n02802426', 'n04490091']                 # sorted: the file names them in this order
    for i, x in enumerate(w): _save(tmp_path/x/'a.png', i)
    (tmp_path/'classnames.txt').write_text('tabby\nbasketball\ntruck\n')
    ds = load_dataset(f'imagefolder:{tmp_path}')
    assert ds.classes == ['tabby', 'basketball', 'truck'] and ds.meta['wnids'] == w
    p = PROMPT_VARIANTS['icar'](ds.classes, dict(dataset=ds.name, wnids=ds.meta['wnids']))
    assert 'cat with a grey' in p[0][0] and 'inflated ball' in p[1][0] and 'automotive vehicle' in p[2][0]

# ---------------------------------------------------------------- folders and tables as file managers leave them
def _junk(folder:Path):
    "What macOS Finder, Windows Explorer and unzipping a Mac archive leave in a folder."
    (folder/'.DS_Store').write_bytes(b'\x00\x00\x00\x01Bud1' + bytes(64))
    (folder/'._x.png').write_bytes(b'\x00\x05\x16\x07AppleDouble junk')
    (folder/'Thumbs.db').write_bytes(bytes(32)); (folder/'desktop.ini').write_text('[.ShellClassInfo]\r\n')

def test_hidden_files_and_folders_ignored_at_every_level(tmp_path):
    root = tmp_path/'set'
    for j, c in enumerate(['circle', 'square']):
        for k in range(2): _save(root/c/f'{k}.png', 10 * j + k)
        _save(root/c/'sub'/'deep.png', 100 + j)                      # a real nested image counts
        _junk(root/c); _junk(root/c/'sub')
        (root/c/'.thumbnails').mkdir(); _save(root/c/'.thumbnails'/'t.png', 7)
    _junk(root)
    for d in ['__MACOSX/circle', '.Trashes', '.hidden_class', '$RECYCLE.BIN']:
        (root/d).mkdir(parents=True); _save(root/d/'0.png', 9); (root/d/'._0.png').write_bytes(b'junk')
    ds = load_imagefolder(root)
    assert ds.classes == ['circle', 'square'] and len(ds) == 6
    assert not any(part.startswith('.') or part == '__MACOSX' for p in ds.images for part in Path(p).relative_to(root).parts)

def test_imagenet_layout_ignores_hidden_folders(tmp_path):
    val = tmp_path/'imagenet'/'val'; w = imagenet_wnids()
    _save(val/w[0]/'ILSVRC2012_val_00000001.JPEG', 0); _junk(val/w[0])
    (val/'__MACOSX').mkdir(); _junk(val)
    ds = load_imagenet(tmp_path)
    assert len(ds) == 1 and ds.labels.tolist() == [0]

@pytest.mark.parametrize('style', ['excel_semicolon_bom_crlf', 'tab', 'quoted_comma', 'windows_paths', 'utf16', 'cp1252', 'header_swapped'])
def test_csv_as_spreadsheets_save_it(tmp_path, style):
    rows = _csv_set(tmp_path, labels=('circle', 'square', 'café'))
    (tmp_path/'img'/'a, b').mkdir(); _save(tmp_path/'img'/'a, b'/'x.png', 99); rows.append(('img/a, b/x.png', 'circle'))
    want = load_csv(_write(tmp_path/'plain.csv', 'path,label\n' + '\n'.join(f'"{p}",{l}' for p, l in rows)))
    q = lambda p: f'"{p}"' if ',' in p or ';' in p else p
    if style == 'excel_semicolon_bom_crlf': data = ('Path;Label\r\n' + ''.join(f'{q(p)};{l}\r\n' for p, l in rows)).encode('utf-8-sig')
    elif style == 'tab': data = ''.join(f'{p}\t{l}\n' for p, l in rows).encode()
    elif style == 'quoted_comma': data = ('"path","label"\n' + ''.join(f'"{p}","{l}"\n' for p, l in rows)).encode()
    elif style == 'windows_paths': data = ('path,label\r\n' + ''.join(f'"{p}",{l}\r\n'.replace('/', '\\') for p, l in rows)).encode()
    elif style == 'utf16': data = ('path\tlabel\r\n' + ''.join(f'{p}\t{l}\r\n' for p, l in rows)).encode('utf-16')
    elif style == 'cp1252': data = ('path;label\r\n' + ''.join(f'{q(p)};{l}\r\n' for p, l in rows)).encode('cp1252')
    else: data = ('label,path,note\n' + ''.join(f'{l},{q(p)},x\n' for p, l in rows)).encode()
    (tmp_path/'s.csv').write_bytes(data)
    got = load_csv(tmp_path/'s.csv')
    assert got.classes == want.classes == ['café', 'circle', 'square']
    assert got.labels.tolist() == want.labels.tolist() and got.images == want.images

def _write(p, text): p.write_text(text); return p

def test_csv_duplicate_rows_counted_once_conflicting_rows_refused(tmp_path, caplog):
    rows = _csv_set(tmp_path, labels=('circle', 'square'))
    body = 'path,label\n' + '\n'.join(f'{p},{l}' for p, l in rows)
    with caplog.at_level(logging.WARNING):
        ds = load_csv(_write(tmp_path/'d.csv', body + f'\n{rows[0][0]},Circle \n./{rows[1][0]},circle\n'))
    assert len(ds) == 4 and 'duplicate row(s)' in caplog.text and 'lines [6, 7]' in caplog.text
    with pytest.raises(ConfigError, match=r"different labels: img/circle0.png: \['circle', 'square'\]"):
        load_csv(_write(tmp_path/'c.csv', body + f'\n{rows[0][0]},square\n'))

def test_csv_rows_naming_hidden_files_are_skipped(tmp_path):
    rows = _csv_set(tmp_path, labels=('circle', 'square'))
    (tmp_path/'__MACOSX'/'img').mkdir(parents=True); (tmp_path/'__MACOSX'/'img'/'._circle0.png').write_bytes(b'junk')
    ds = load_csv(_write(tmp_path/'h.csv', '\n'.join(f'{p},{l}' for p, l in rows) + '\n__MACOSX/img/._circle0.png,circle\nimg/.DS_Store,square\n'))
    assert len(ds) == 4

# ---------------------------------------------------------------- prompts by class
def test_cupl_imagenet_by_wnid_not_by_position():
    cupl, raw, names, w = clip_benchmark_json('cupl')['imagenet1k'], imagenet_classnames(raw=True), imagenet_classnames(), imagenet_wnids()
    assert len(cupl) == 998
    rep = imagenet_cupl(names, w)
    assert len(rep) == 1000 and all(rep[n] == cupl[r] for n, r in zip(names, raw))
    assert rep['missile (projectile)'] == rep['missile'] == cupl['missile']               # the repeated names share their entry
    p = PROMPT_VARIANTS['cupl'](names, dict(dataset='imagenet'))
    i = names.index('projector')
    assert any('projector' in x.lower() for x in p[i]) and not any('puck' in x.lower() for x in p[i])
    assert all(len(x) > 1 or x[0] != n for x, n in zip(p, names))                          # no class without its descriptions

def test_cupl_cached_replies_looked_up_by_name():
    from zsc_nb.templates import cupl_from_replies
    p = cupl_from_replies(['Café', 'dog'], {'dog': ['A dog barks.'], 'cafe\u0301 ': ['A café has tables.']})
    assert p == [['A café has tables.'], ['A dog barks.']]

def test_icar_truck_is_the_motor_vehicle():
    by_name = definitions(['truck'])[0]
    assert 'handcart' in by_name                                                           # the fault: the first sense of the name
    p = PROMPT_VARIANTS['icar'](CIFAR10_CLASSES, dict(dataset='cifar10'))
    assert p[9] == ['truck: an automotive vehicle suitable for hauling'] and 'domesticated member of the genus Felis' in p[3][0]
    p = PROMPT_VARIANTS['icar'](class_names('cifarplus10', split=0), dict(dataset='cifarplus10'))
    assert p[2][0].startswith('truck: an automotive')

def test_cifar_wnid_tables_are_complete_and_known():
    assert list(CIFAR10_WNIDS) == CIFAR10_CLASSES and list(CIFAR100_WNIDS) == CIFAR100_CLASSES
    lem = synset_lemmas()
    assert len(set(CIFAR100_WNIDS.values())) == 100
    # synsets missing from timm's ImageNet-21k list: their WordNet 3.0 glosses are stated in `data.WORDNET_GLOSSES`
    from zsc_nb.data import WORDNET_GLOSSES
    assert {w for w in CIFAR100_WNIDS.values() if w not in lem} == set(WORDNET_GLOSSES)
    assert all(w in lem for w in CIFAR10_WNIDS.values()) and all(definitions(CIFAR100_CLASSES, list(CIFAR100_WNIDS.values())))
    p = PROMPT_VARIANTS['icar'](CIFAR100_CLASSES, dict(dataset='cifar100'))
    g = dict(zip(CIFAR100_CLASSES, (x[0] for x in p)))
    assert g['plate'].startswith('plate: dish on which food') and g['orange'].startswith('orange: round yellow to orange fruit')
    assert g['tank'].startswith('tank: an enclosed armored military vehicle') and g['train'].startswith('train: public transport')

def test_tinyimagenet_icar_through_its_wnids(tmp_path):
    base = tmp_path/'tiny-imagenet-200'; w = ['n02802426', 'n02123045', 'n04490091']
    (base/'val'/'images').mkdir(parents=True)
    (base/'wnids.txt').write_text('\n'.join(w[::-1]) + '\n')
    (base/'words.txt').write_text('n02802426\tbasketball\nn02123045\ttabby, tabby cat\nn04490091\ttruck, motortruck\nn00000001\tdecoy\n')
    ann = []
    for i in range(6):
        _save(base/'val'/'images'/f'val_{i}.JPEG', i); ann.append(f'val_{i}.JPEG\t{w[i % 3]}\t0\t0\t8\t8')
    (base/'val'/'val_annotations.txt').write_text('\n'.join(ann) + '\n')
    ds = load_dataset('tinyimagenet', root=tmp_path)
    assert ds.classes == ['tabby', 'basketball', 'truck'] and ds.meta['wnids'] == sorted(w)
    p = PROMPT_VARIANTS['icar'](ds.classes, dict(dataset='tinyimagenet', wnids=ds.meta['wnids']))
    assert p[0] == ['tabby: a cat with a grey or tawny coat mottled with black'] and p[1] == ['basketball: an inflated ball used in playing basketball']
    wrong = definitions(ds.classes)                                                         # what looking up by name gave
    assert wrong[0] == 'female cat' and wrong[1].startswith('a game played on a court')

def test_prompts_over_77_tokens_are_counted_warned_once_and_listed(caplog):
    long = 'a photo of a ' + ' '.join(['very'] * 90) + ' small dog'
    assert token_counts(['a photo of a dog'])[0] == 7 and token_counts([long])[0] > 77
    with caplog.at_level(logging.WARNING):
        r = warn_long('test-set cupl prompts', ['dog', 'cat'], [[long, 'a dog'], ['a cat']])
        warn_long('test-set cupl prompts', ['dog', 'cat'], [[long, 'a dog'], ['a cat']])
    assert r['n'] == 1 and r['of'] == 3 and r['examples'][0]['cls'] == 'dog' and r['examples'][0]['tokens'] > 77
    assert caplog.text.count("exceed CLIP's 77 tokens") == 1
    assert warn_long('short', ['dog'], [['a dog']]) is None
    row = {'n_prompts': 3, 'example': 'x', 'M1': {'top1': .5, 'auroc': .5}, 'M1+M2+M3': {'top1': .5, 'auroc': .5}, 'over_77': r}
    md = '\n'.join(prompt_table({'set': {'cupl': row}}))
    assert "longer than CLIP's 77 tokens" in md and "- set cupl: 1 of 3, e.g. 'dog'" in md

# ---------------------------------------------------------------- ImageNet end to end (tiny encoders, offline)
def test_reproduce_prepare_on_an_imagenet_standin_has_1000_predictable_classes(tmp_path):
    "`reproduce --preset smoke --datasets imagenet`'s data and reference stages on `data/imagenet/val/<wnid>/*.JPEG` (SMOKE)."
    from zsc_nb.config import get_preset
    from zsc_nb.references import import_references
    from zsc_nb.reproduce import prepare
    from zsc_nb.engine import evaluate
    data = tmp_path/'data'; w, names = imagenet_wnids(), imagenet_classnames()
    for i, x in enumerate(w):
        d = data/'imagenet'/'val'/x; d.mkdir(parents=True)
        Image.fromarray(_img(i)).save(d/f'ILSVRC2012_val_{i:08d}.JPEG', quality=95)
    # one procedural reference per class, imported under its class (the smoke generator draws only shapes classes)
    src = tmp_path/'refs'; src.mkdir()
    for i in range(1000): Image.fromarray(_img(i)).save(src/f'r{i:04d}.png')
    rep = import_references(src, names, 'imagenet', {f'r{i:04d}.png': c for i, c in enumerate(names)}, root=data/'references')
    assert rep['imported'] == 1000 and not rep['classes_without_reference']
    cfg = get_preset('smoke').replace(dataset='imagenet', generator='imported', k_refs=1)
    F = prepare(cfg, data, download=False, k_generate=1, progress=False)
    assert len(F.classes) == 1000 == len({class_key(c) for c in F.classes}) and F.meta['wnids'] == w
    assert sorted(set(F.ref_labels.tolist())) == list(range(1000)) and F.text_clip.shape[0] == 1000
    assert len(np.unique(F.text_clip.round(5), axis=0)) == 1000                            # 1000 distinct prompts
    r = evaluate(F, cfg.scales, True, 'all', combos=('M2', 'M3'), weightings=('inv_entropy',))
    pred = (F.img_dino / np.linalg.norm(F.img_dino, axis=1, keepdims=True)) @ (F.ref_dino / np.linalg.norm(F.ref_dino, axis=1, keepdims=True)).T
    hit = F.ref_labels[pred.argmax(1)] == F.labels
    assert hit.mean() > 0.95 and len(set(F.ref_labels[pred.argmax(1)].tolist())) > 950     # every class can be predicted
    assert r['M3']['none']['top1'] > 0.95

def test_import_references_skips_hidden_files_and_matches_decomposed_names(tmp_path):
    from zsc_nb.references import import_references
    src = tmp_path/'from_a_mac'; src.mkdir()
    Image.fromarray(_img(1)).save(src/'cafe\u0301.png'); Image.fromarray(_img(2)).save(src/'dog1.png')   # macOS: decomposed
    for f in ('._cafe\u0301.png', '._dog1.png'): (src/f).write_bytes(b'\x00\x05\x16\x07 AppleDouble')
    (src/'.DS_Store').write_bytes(bytes(16)); (src/'Thumbs.db').write_bytes(bytes(16))
    rep = import_references(src, ['café', 'dog'], 'own', root=tmp_path/'refs')
    assert rep['imported'] == 2 and not rep['bad'] and not rep['unmatched'] and not rep['classes_without_reference']

def test_cupl_imagenet_subset_without_wnids_by_name():
    rep = imagenet_cupl(['Projector', 'tench', 'no such class'], None)
    cupl = clip_benchmark_json('cupl')['imagenet1k']
    assert rep == {'Projector': cupl['projector'], 'tench': cupl['tench']}

def test_leakage_check_by_the_class_own_synset():
    from zsc_nb.vocab import load_vocabulary, leakage_check, same_class
    V = load_vocabulary()
    assert leakage_check(['projectile'], ['missile (projectile)'], [], V)['kept'] == ['projectile']        # the name alone misses it
    chk = leakage_check(['projectile', 'dark glasses', 'tench'], ['missile (projectile)', 'sunglasses (dark glasses)'], [], V,
                        unknown_wnids=['n04008634', 'n04356056'])
    assert chk['leaked'] == [('projectile', 'missile (projectile)'), ('dark glasses', 'sunglasses (dark glasses)')] and chk['kept'] == ['tench']
    # two classes with one display name stay two entries (a list, not a dict keyed by name)
    chk = leakage_check(['projectile'], ['missile', 'missile'], [], V, unknown_wnids=['n04008634', 'n03773504'])
    assert chk['leaked'] == [('projectile', 'missile')]
    assert same_class('motortruck', 'truck', V, 'n04490091')

def test_csv_header_in_another_language_is_still_a_header(tmp_path):
    rows = _csv_set(tmp_path, labels=('circle', 'square'))
    ds = load_csv(_write(tmp_path/'de.csv', 'Datei;Art\n' + '\n'.join(f'{p};{l}' for p, l in rows)))
    assert ds.classes == ['circle', 'square'] and len(ds) == 4

def test_reproduce_accepts_imagenet_and_clip_benchmark_names():
    from zsc_nb.config import config_from, check_dataset
    assert check_dataset('imagenet') is None and check_dataset('pets') is None and 'unknown dataset' in check_dataset('imagenet21k')
    assert config_from('smoke', 'imagenet', {'generator': 'imported'}).dataset == 'imagenet'
