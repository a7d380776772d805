"""The offline docs site: a tiny site built with the real pipeline (nbdev-processed notebooks → Sphinx + myst-nb + Furo,
MathJax from the site itself) passes the browser check, and every defect the check exists for, planted in a copy,
makes it fail. Skipped, with the reason, where headless Chromium or its driver is missing."""
import shutil
from pathlib import Path
import nbformat, pytest

pytest.importorskip('sphinx', reason='Sphinx is missing: pip install -e ".[dev]" (sphinx, myst-nb, furo, django-static-mathjax)')
pytest.importorskip('myst_nb', reason='myst-nb is missing: pip install -e ".[dev]"')
from zsc_nb.docpages import page_notebook
from zsc_nb.docsite import sphinx_build, postprocess, showdoc_problems
from zsc_nb.sitecheck import browser_check, site_problems

def _have_browser():
    return (shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')) and shutil.which('chromedriver')

needs_browser = pytest.mark.skipif(not _have_browser(), reason='headless Chromium is missing: chromium and chromedriver '
                                   '(Debian: apt-get install -y chromium chromium-driver; .ci/docs installs them)')
md, raw = nbformat.v4.new_markdown_cell, nbformat.v4.new_raw_cell

def _code(src, *outputs): return nbformat.v4.new_code_cell(src, outputs=list(outputs))
def _stream(text): return nbformat.v4.new_output('stream', name='stdout', text=text)
def _png():
    import base64, io
    from PIL import Image
    b = io.BytesIO(); Image.new('RGB', (12, 8), 'teal').save(b, 'PNG')
    return nbformat.v4.new_output('display_data', {'image/png': base64.b64encode(b.getvalue()).decode(), 'text/plain': '<Figure>'})

def _write(proc, name, *cells):
    (proc/name).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), proc/name)

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "A tiny processed-notebook folder (as nbdev_proc_nbs writes it) built into a site: `(out, proc)`."
    root = tmp_path_factory.mktemp('repo'); proc = root/'_proc'
    (root/'figures').mkdir(); (root/'figures'/'fig.png').write_bytes(b'')
    from PIL import Image; Image.new('RGB', (8, 8), 'red').save(root/'figures'/'fig.png')
    _write(proc, 'index.ipynb', raw('---\ntitle: Tiny project\noutput-file: index.html\n---'),
           md('The README: ![a figure](figures/fig.png) and [the fusion chapter](nbs/01_fusion.ipynb).'))
    _write(proc, '01_fusion.ipynb', raw('---\ntitle: Fusion\ndescription: Weights per image\noutput-file: fusion.html\n---'),
           md('Each method gives $p_m = \\mathrm{softmax}(\\tau_m s_m)$, and\n\n$$f = \\sum_m w_m p_m.$$\n\n## A worked example\n\nIt costs $5 and $6.'),
           _code('#| echo: false\n#| output: asis\nshow_doc(fuse)', nbformat.v4.new_output('execute_result',
                 {'text/markdown': '---\n\n[source](https://x.org/f.py#L1){target="_blank"}\n\n### fuse\n\n*Fuse.*', 'text/plain': 'x'}, execution_count=1)),
           _code('print(1 + 1)', _stream('2\n')),
           _code('import pandas as pd\npd.DataFrame({"method": ["M1", "M2"], "acc": [0.9, 0.8]})',
                 nbformat.v4.new_output('execute_result', {'text/html': '<table class="dataframe"><thead><tr style="text-align: right;"><th>method</th><th>acc</th></tr></thead>'
                                        '<tbody><tr><td>M1</td><td>0.9</td></tr><tr><td>M2</td><td>0.8</td></tr></tbody></table>', 'text/plain': 'df'}, execution_count=2)),
           _code('plot()', _png()),
           md('See [fuse](https://tiny.example/docs/fusion.html#fuse).'))
    _write(proc, 'runs/evaluate.ipynb', raw('---\ntitle: A papermill run\n---'), md('Accuracy $a_1$ per split.'))
    out = root/'site'
    docs = sphinx_build(proc, out)
    postprocess(out, {'fusion.html': '01_fusion', 'index.html': 'index'}, 'https://tiny.example/docs/')
    return out, proc, docs

def test_page_notebook_keeps_one_title_and_tags():
    nb = nbformat.v4.new_notebook(cells=[raw('---\ntitle: T\n---'), _code('#| echo: false\nshow_doc(f)')])
    p = page_notebook(nb)
    assert p.cells[0].source == '# T' and p.cells[1].metadata.tags == ['remove-input'] and p.cells[1].source == 'show_doc(f)'

def test_site_is_built_in_order_with_search_math_toc_and_local_links(site):
    out, _, docs = site
    assert docs == ['index', '01_fusion', 'runs/evaluate']
    page = (out/'01_fusion.html').read_text()
    assert (out/'_static'/'mathjax'/'tex-svg.js').stat().st_size > 500_000 and 'mathjax/tex-svg.js' in page
    assert (out/'search.html').exists() and (out/'searchindex.js').exists()
    assert 'toc-tree' in page and 'next-page' in page and 'prev-page' in page      # Furo: in-page TOC, previous/next
    assert 'href="01_fusion.html#fuse"' in page and 'target="_blank"' not in page    # published-docs link made local
    assert 'class="text-left"' in page and 'class="text-right"' in page          # text column left, numbers right
    assert 'costs $5 and $6' in page                                              # not math (Pandoc's rule)
    assert list((out/'_images').glob('*.png')) and site_problems(out) == []

def test_missing_show_doc_is_a_problem(site):
    "The tiny fusion page documents `fuse` only: every other exported function of zsc_nb.fusion is reported missing."
    probs = showdoc_problems(site[0], {'01_fusion': 'zsc_nb.fusion', '02_gone': 'zsc_nb.errors'})
    assert len(probs) == 2 and 'to_probs' in probs[0] and 'entropy' in probs[0] and ' fuse' not in probs[0].split(':', 2)[2]
    assert probs[1] == '02_gone.html: missing (the page of zsc_nb.errors)'

@needs_browser
def test_browser_check_passes_on_the_clean_site(site):
    out = site[0]
    assert browser_check(out, search='weights') == []
    assert (out/'_screenshots'/'01_fusion.png').stat().st_size > 10_000 and (out/'_screenshots'/'runs'/'evaluate.png').exists()

PLANTED = {   # what is planted into 01_fusion.html → the words the check must report
    'raw TeX': ('<p>Raw: $p_m = \\mathrm{softmax}(s_m)$ here.</p>', 'raw TeX'),
    'raw TeX brackets': ('<p>Raw: \\(x, never closed.</p>', 'raw TeX'),   # a closed one MathJax renders: not raw
    'second h1': ('<h1>Another title</h1>', 'top-level headings'),
    'empty output': ('<div class="cell docutils container"><div class="cell_output docutils container"><div class="output stream highlight-myst-ansi notranslate"><div class="highlight"><pre><span></span></pre></div></div></div></div>', 'empty output'),
    'broken image': ('<img src="_images/nothing.png" alt="x">', 'broken image'),
    'broken link': ('<a href="02_missing.html">next chapter</a>', 'broken link'),
    'broken anchor': ('<a href="index.html#no-such-section">there</a>', 'no anchor'),
    'JavaScript error': ('<script>undefinedFunction();</script>', 'JavaScript error'),
    'remote script': ('<script src="https://cdn.example.org/lib.js"></script>', 'remote script'),
}

@needs_browser
@pytest.mark.parametrize('defect', PLANTED)
def test_browser_check_fails_on_a_planted_defect(site, defect, tmp_path):
    out = tmp_path/'site'
    shutil.copytree(site[0], out, ignore=shutil.ignore_patterns('_screenshots'))
    snippet, words = PLANTED[defect]
    page = out/'01_fusion.html'
    page.write_text(page.read_text().replace('</article>', snippet + '</article>', 1))
    probs = browser_check(out, search='')
    assert probs and all('01_fusion.html' in p for p in probs) and any(words in p for p in probs), probs

@needs_browser
def test_math_without_mathjax_is_raw_tex(site, tmp_path):
    "MathJax missing (or failing to load) leaves every equation raw: the check names it on every page with math."
    out = tmp_path/'site'
    shutil.copytree(site[0], out, ignore=shutil.ignore_patterns('_screenshots'))
    (out/'_static'/'mathjax'/'tex-svg.js').write_text('/* not MathJax */')
    probs = browser_check(out, search='')
    assert any(p.startswith('01_fusion.html: raw TeX') for p in probs) and any(p.startswith('runs/evaluate.html: raw TeX') for p in probs), probs

@needs_browser
def test_search_that_finds_nothing_fails(site):
    assert any('finds nothing' in p for p in browser_check(site[0], search='zzqxnotthere'))
