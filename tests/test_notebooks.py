"""The chapters as a reader meets them: prose that renders as prose, math that renders everywhere, worked examples
with their outputs saved. Each rule is checked on every notebook of nbs/ and proved able to fail on a planted cell."""
import json, re
from pathlib import Path
import pytest

NBS = Path(__file__).resolve().parent.parent/'nbs'
NOTEBOOKS = sorted(p for p in NBS.rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts and not p.name.startswith('_'))
# the pipeline's stages (00 config … 12 open-set report); 90 bench, 98 docsite and 99 cli are tools around them
STAGES = [p for p in NOTEBOOKS if p.parent == NBS and re.match(r'(0\d|1[0-2])[a-z]?_', p.name)]

def cells(p): return json.loads(p.read_text(encoding='utf-8'))['cells']
def src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def outside_code(md:str) -> str:
    "Markdown without fenced code blocks and inline code (where `#` and `\\(` mean nothing)."
    return re.sub(r'`[^`\n]*`', '', re.sub(r'^(```|~~~).*?^\1', '', md, flags=re.M | re.S))

def commented_out(md:str) -> bool:
    "A cell whose every line starts with '# ' (prose pasted as comments: each line would render as a top-level heading)."
    lines = [l for l in outside_code(md).splitlines() if l.strip()]
    return len(lines) >= 2 and all(l.startswith('#') for l in lines) and sum(l.startswith('# ') for l in lines) >= 2

def top_headings(cs:list) -> list:
    "The notebook's `# ` headings (each a top-level h1): the title alone should be one."
    return [l for c in cs if c['cell_type'] == 'markdown' for l in outside_code(src(c)).splitlines() if l.startswith('# ')]

def tex_problems(md:str) -> list:
    "Math that renders under Quarto, GitHub and the offline site alike is `$...$` and `$$...$$`; `\\(`, `\\[` do not."
    t = outside_code(md)
    return re.findall(r'\\[(\[]', t) + re.findall(r'\\begin\{(?:equation|align)\}(?![^$]*\$\$)', t)

def opening(cs:list) -> str:
    "The first markdown cell after the title cell (`# Title` / `> description`): what the chapter opens with."
    md = [src(c) for c in cs if c['cell_type'] == 'markdown']
    return md[1] if len(md) > 1 else ''

def saved_outputs(cs:list) -> int: return sum(1 for c in cs if c['cell_type'] == 'code' and c.get('outputs'))

def test_rules_can_fail():
    "Each rule below, on a planted defect and on its fixed form."
    assert commented_out('# one line of prose\n# another line\n# and a third') and commented_out('# a\n#\n# b')
    assert not commented_out('# Title\n> what it does') and not commented_out('## Section\ntext')
    assert not commented_out('text\n```sh\n# a shell comment\n# another\n```')
    assert tex_problems(r'a \(x\) b') and tex_problems(r'\[ x \]') and not tex_problems(r'$x$ and $$y$$ and `\(`')
    planted = [{'cell_type': 'markdown', 'source': '# T\n> d'}, {'cell_type': 'markdown', 'source': '## Usage\nrun it'},
               {'cell_type': 'code', 'source': 'x = 1', 'outputs': []}]
    assert opening(planted).startswith('## ') and saved_outputs(planted) == 0 and top_headings(planted) == ['# T']
    assert len(top_headings(planted + [{'cell_type': 'markdown', 'source': '# ## a section pasted as a comment'}])) == 2

def test_found_the_notebooks():
    assert len(NOTEBOOKS) > 10 and len(STAGES) >= 15, (len(NOTEBOOKS), [p.name for p in STAGES])

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.relative_to(NBS).as_posix())
def test_markdown_is_prose_and_math_renders(nb):
    bad = [(i, src(c)[:60]) for i, c in enumerate(cells(nb)) if c['cell_type'] == 'markdown' and commented_out(src(c))]
    assert not bad, f'{nb.name}: markdown cells made of "# " lines (each line renders as a heading; drop the "# "): {bad}'
    h1 = top_headings(cells(nb))
    assert len(h1) <= 1, f'{nb.name}: one top-level heading (the title) per chapter; make these "## ": {h1[1:]}'
    tex = [(i, tex_problems(src(c))) for i, c in enumerate(cells(nb)) if c['cell_type'] == 'markdown' and tex_problems(src(c))]
    assert not tex, f'{nb.name}: write math as $...$ or $$...$$ (renders under Quarto, GitHub and the offline site): {tex}'

@pytest.mark.parametrize('nb', STAGES, ids=lambda p: p.name)
def test_stage_chapter_opens_with_prose_and_shows_outputs(nb):
    cs = cells(nb)
    first = opening(cs)
    words = len(re.sub(r'\$[^$]*\$|`[^`]*`', 'x', first).split())
    assert first and not first.lstrip().startswith(('#', '|', '```')) and words >= 40, \
        f'{nb.name}: open the chapter with a paragraph on what the stage does and why (found {first[:60]!r}, {words} words)'
    assert saved_outputs(cs) >= 1, f'{nb.name}: no saved outputs; execute it (nbconvert --execute --inplace) and keep them'

def mixes_imports(code:str) -> bool:
    """A cell nbdev runs out of order when it builds the docs: not exported, yet holding an import beside other code
    (nbdev's `exec_show_docs` runs every cell with an import; its FAQ: keep imports in cells of their own)."""
    import ast
    first = code.lstrip().split('\n', 1)[0]
    if first.startswith('#|') and re.search(r'\b(export|exports|exporti|exec_doc)\b|eval:\s*false', first): return False
    try: tree = ast.parse(code)
    except SyntaxError: return False
    imports = any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(tree))
    return imports and any(isinstance(n, (ast.Expr, ast.Assign)) for n in ast.walk(tree)) and 'nbdev_export()' not in code

def test_import_rule_can_fail():
    assert mixes_imports('import numpy as np\nx = np.ones(3)') and mixes_imports('with a:\n    import os\n    print(1)')
    assert not mixes_imports('import numpy as np\nfrom pathlib import Path') and not mixes_imports('x = 1\nprint(x)')
    assert not mixes_imports('#| export\nimport os\nX = os.sep') and not mixes_imports('import nbdev; nbdev.nbdev_export()')

@pytest.mark.parametrize('nb', [p for p in NOTEBOOKS if p.name != 'index.ipynb'], ids=lambda p: p.relative_to(NBS).as_posix())
def test_imports_have_cells_of_their_own(nb):
    bad = [(i, src(c)[:60]) for i, c in enumerate(cells(nb)) if c['cell_type'] == 'code' and mixes_imports(src(c))]
    assert not bad, f'{nb.name}: cells with an import beside other code run out of order under nbdev_docs; split the imports off: {bad}'
