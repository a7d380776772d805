"Open-set scores, OSCR, vocabulary, leakage, virtual classes and naming: hand-worked examples; one offline run of nbs/runs/openset.ipynb."
import json
import numpy as np, pytest
from zsc_nb.openset import (block_probs, fuse_rows, msp_score, mass_score, eoe_score, authors_score, neglabel_grouped, oscr,
                            score_table, unknown_scores, parse_names, virtual_classes, top_names, reject_threshold, naming_accuracy, draw_virtual)
from zsc_nb.vocab import load_vocabulary, leakage_check, mine_negatives, same_class, norm_name, sample_names
from zsc_nb.prompting import ScriptedChat

V = load_vocabulary()

def test_block_probs_and_scores_by_hand():
    S = np.log([[3., 1, 1], [1, 1, 3]])                      # softmax at scale 1: (.6, .2, .2) and (.2, .2, .6)
    p = block_probs([S[:, :2], S[:, 2:]], [2, 1], 1.0)
    assert np.allclose(p, [[.6, .2, .2], [.2, .2, .6]])
    assert np.allclose(msp_score(p, 2), [.4, .8])              # 1 - max known
    assert np.allclose(mass_score(p, 2), [.2, .6])             # NegLabel / virtual mass
    assert np.allclose(eoe_score(p, 2, 0.25), [-.55, -.05])    # -(max known - β max extra)
    assert np.allclose(eoe_score(p, 2, 1.0), [-.4, .4])
    assert np.allclose(block_probs([S[:, :2], None], [2, 1], 1.0), [[.75, .25, 0], [.5, .5, 0]])   # a method without the block
    # the paper's score: min-max scale, renormalise, 1 - known mass: row 0 → (1, 0, 0) → 0; row 1 → (0, 0, 1) → 1
    assert np.allclose(authors_score(p, 2), [0, 1])

def test_neglabel_grouping_by_hand():
    # known sims 0, 0; negatives log 2, log 4: one group → (2+4)/(1+1+2+4) = .75; two groups → mean(2/4, 4/6)
    k, n = np.zeros((1, 2)), np.log([[2., 4.]])
    assert np.allclose(neglabel_grouped(k, n, 1.0, groups=1), .75)
    assert np.allclose(neglabel_grouped(k, n, 1.0, groups=2), (2/4 + 4/6) / 2)

def test_fuse_rows_is_the_normalised_confidence_weighting():
    a, b = np.array([[.9, .1]]), np.array([[.5, .5]])
    h = lambda p: -(p * np.log(p + 1e-6)).sum()
    w = np.array([1 / (h(a) + 1e-6), 1 / (h(b) + 1e-6)]); w /= w.sum()
    assert np.allclose(fuse_rows([a, b]), w[0] * a + w[1] * b)
    assert np.allclose(fuse_rows([a, b]).sum(1), 1)

def test_oscr_by_hand():
    # knowns at confidence .9 (right), .7 (wrong), .5 (right); unknowns at .8, .3 → curve (0,⅓) (½,⅓) (½,⅔) (1,⅔): area ½
    assert abs(oscr(-np.array([.9, .7, .5, .8, .3]), [0, 0, 0, 1, 1], [1, 0, 1, 0, 0]) - .5) < 1e-12
    assert oscr(-np.array([.9, .8, .1, .2]), [0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    assert oscr(-np.array([.1, .2, .9, .8]), [0, 0, 1, 1], [1, 1, 0, 0]) == 0.0     # every unknown accepted first
    assert abs(oscr(np.zeros(4), [0, 0, 1, 1], [1, 0, 0, 0]) - .25) < 1e-12        # ties: one step to (1, ½)
    with pytest.raises(ValueError): oscr([1, 2], [0, 0], [1, 1])

def test_score_table_per_method_and_fused():
    rng = np.random.default_rng(0); y = np.repeat(np.arange(4), 10)
    sims = [rng.normal(0, .05, (40, 4)) + .1 * np.eye(4)[y] for _ in range(3)]
    ex = {'neg': [rng.normal(0, .05, (40, 3)), None, None], 'virtual': [rng.normal(0, .05, (40, 2)) for _ in range(3)]}
    t = score_table(sims, y, [0, 1], ex)
    assert set(t) == {'known', 'named'} and "paper's score" not in t['known'] and "paper's score" in t['named']
    assert t['known']['NegLabel']['M2'] is None and t['known']['virtual']['M2'] is not None
    for st in t.values():
        for row in st.values():
            for v in row.values():
                if v: assert 0 <= v['oscr'] <= v['acc'] + 1e-9 and 0 <= v['auroc'] <= 1 and 0 <= v['fpr95'] <= 1
    # MSP of M1 alone by hand: softmax over the known columns at scale 100
    u, pred = unknown_scores(sims, [0, 1], ex, 'MSP', 'M1')
    e = np.exp(100 * (sims[0][:, :2] - sims[0][:, :2].max(1, keepdims=True))); p = e / e.sum(1, keepdims=True)
    assert np.allclose(u, 1 - p.max(1)) and (pred == p.argmax(1)).all()
    # named MSP also sees the unknown names
    u2, _ = unknown_scores(sims, [0, 1], ex, 'MSP', 'M1', 'named')
    e = np.exp(100 * (sims[0] - sims[0].max(1, keepdims=True))); p = e / e.sum(1, keepdims=True)
    assert np.allclose(u2, 1 - p[:, :2].max(1))

def test_vocabulary_synonyms_and_leakage():
    assert len(V.names) > 15000 and {'car', 'auto', 'automobile'} <= V.synonyms('automobile')
    assert norm_name(' Aquarium_Fish ') == 'aquarium fish'
    chk = leakage_check(['Jellyfish', 'bisons', 'sea anemone', 'car', 'round of golf'], ['jellyfish', 'bison'], ['automobile'], V)
    assert chk['leaked'] == [('jellyfish', 'jellyfish'), ('bisons', 'bison')] and chk['known'] == [('car', 'automobile')]
    assert chk['kept'] == ['sea anemone', 'round of golf']
    assert same_class('auto', 'automobile', V) and not same_class('bison', 'jellyfish', V)
    assert sample_names(V, 10, seed=1) == sample_names(V, 10, seed=1) and len(sample_names(V, 10)) == 10

def test_mine_negatives_by_hand():
    K = np.array([[1., 0], [0, 1]]); T = np.array([[1., 1], [-1, -1], [-1, 0], [.9, .1]])
    assert mine_negatives(T, K, 2).tolist() == [1, 2] and mine_negatives(T, K, 0).tolist() == []

def test_virtual_turn_parses_and_transcribes():
    assert parse_names("1. **Oval** - stretched\n2) Pentagon\n- ring\n* plus sign: bars\nHeptagon (7 sides)") == ['oval', 'pentagon', 'ring', 'plus sign', 'heptagon']
    assert parse_names("Sure! Here are some classes:\nkite, lozenge, Kite") == ['kite', 'lozenge']
    names, tr = virtual_classes(ScriptedChat(['oval\nring']), ['circle', 'square'], 2)
    assert names == ['oval', 'ring'] and 'circle, square' in tr[0]['content'] and tr[1] == {'role': 'assistant', 'content': 'oval\nring'}
    a, b = draw_virtual('oval', np.random.default_rng(0)), draw_virtual('oval', np.random.default_rng(0))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and (a == b).all()

def test_naming_by_hand():
    img = np.array([[1., 0, 0], [0, 1, 0]]); nf = np.array([[.9, .1, 0], [0, 1, 0], [.5, .5, 0], [0, 0, 1]])
    idx, cos = top_names(img, nf, 2)
    assert idx.tolist() == [[0, 2], [1, 2]] and np.allclose(cos[1], [1, np.sqrt(.5)], atol=1e-6)
    vn = ['car', 'bison', 'truck', 'sea']
    assert naming_accuracy([[vn[i] for i in r] for r in idx], ['automobile', 'jellyfish'], V) == {'top1': .5, 'top5': .5, 'n': 2}
    assert naming_accuracy([['sea', 'car']], ['automobile'], V, ks=(1, 2)) == {'top1': 0.0, 'top2': 1.0, 'n': 1}
    assert reject_threshold([.1, .2, .3, .9], [0, 0, 0, 1], .5) == .2

def test_cifarplus50_registration():
    from zsc_nb.data import class_names, known_classes, SPLITS, CIFAR100_50
    c = class_names('cifarplus50', split=3)
    assert len(c) == 54 and known_classes('cifarplus50', 3) == [0, 1, 2, 3] and c[:4] == ['frog', 'deer', 'truck', 'automobile']
    assert all(len(set(u)) == 50 for u in CIFAR100_50)

def test_openset_notebook_smoke_offline(tmp_path):
    "The papermill notebook, offline: every score in both settings, the leakage list and naming; tables and report section."
    from zsc_nb.reproduce import run_notebook, result_path
    from zsc_nb.openset_report import openset_tables, openset_report_lines
    out = tmp_path/'out'; res = result_path(out, 'openset', 'smoke', 'shapes')
    run_notebook('openset', out, dict(preset='smoke', dataset='shapes', out=str(out), root=str(tmp_path/'data'), download=False,
                                      overrides={'k_refs': 2}, vocab_max=300), res)
    r = json.loads(res.read_text())
    assert r['config']['smoke'] and list(r['splits']) == ['0', '1', '2', '3', '4']
    s0 = r['splits']['0']
    assert {'MSP', 'NegLabel', 'virtual', 'virtual (EOE)', 'NegLabel + virtual'} <= set(s0['results']['known'])
    assert "paper's score" in s0['results']['named']
    assert ['ring', 'ring'] in s0['leakage']['virtual'] and ['rhombus', 'diamond'] in s0['leakage']['virtual']   # scripted leaks caught
    assert 'ring' not in s0['virtual'] and s0['naming']['unknowns'] > 0
    T = openset_tables(out, 'smoke')
    assert set(T) == {'openset', 'openset_published', 'openset_ablation', 'openset_naming'} and all('SMOKE' in t[0] for t in T.values())
    assert any('LMC' in row[0] for row in T['openset_published'][2]) and any(row[1] == 'NegLabel' for row in T['openset'][2])
    L = '\n'.join(openset_report_lines(out, 'smoke'))
    assert 'rhombus (= diamond)' in L and (out/r['figures'][0]).exists()

def test_zoc_splits_option():
    from zsc_nb.openset_report import zoc_known, ZOC_SPLITS
    from zsc_nb.data import CIFAR10_CLASSES
    assert zoc_known('cifar10', 2, CIFAR10_CLASSES) == [0, 2, 4, 3, 7, 5]          # airplane bird deer cat horse dog
    assert ZOC_SPLITS['cifar10'][0] == ZOC_SPLITS['cifar10'][1]                    # ZOC's first two lists are the same, as ARPL's
    with pytest.raises(ValueError, match='ZOC splits'): zoc_known('tinyimagenet', 0, [])
