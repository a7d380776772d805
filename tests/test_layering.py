"""The package's layering: no import cycle between library modules (imports inside functions count), no library
module over about 400 lines, lines of at most 120 columns holding one statement each, imports at the top of the module
(inside a function only a heavy or optional backend, or the pipeline a CLI command runs), and the checkers themselves
fail on planted faults."""
import ast, io, re, tokenize
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent/'zsc_nb'
SKIP = {'__init__', '_modidx'}
MAX_LINES = 420
MAX_COLS = 120


def import_graph(pkg:Path=PKG) -> dict:
    "{module: set of zsc_nb modules it imports}, from every import statement in the file (function bodies included)."
    mods = {p.stem: p for p in pkg.glob('*.py') if p.stem not in SKIP}
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 0 and not (node.module or '').startswith('zsc_nb'):
                    continue
                base = (node.module or '').removeprefix('zsc_nb').lstrip('.')
                names = [base.split('.')[0]] if base else [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.removeprefix('zsc_nb.').split('.')[0] for a in node.names if a.name.startswith('zsc_nb.')]
            else:
                continue
            graph[m] |= {n for n in names if n in mods and n != m}
    return graph


def find_cycles(graph:dict) -> list:
    "Every elementary cycle found by a depth-first walk, as 'a -> b -> a' strings (sorted, without repeats)."
    cycles = set()

    def walk(v, path):
        for w in sorted(graph.get(v, ())):
            if w in path:
                ring = path[path.index(w):]
                i = ring.index(min(ring))
                ring = ring[i:] + ring[:i]
                cycles.add(' -> '.join(ring + [ring[0]]))
            elif len(path) < len(graph):
                walk(w, path + [w])

    for v in sorted(graph):
        walk(v, [v])
    return sorted(cycles)


def test_checker_finds_a_planted_cycle():
    assert find_cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == ['a -> b -> c -> a']
    assert find_cycles({'a': {'b'}, 'b': set()}) == []


def test_checker_reads_imports_inside_functions(tmp_path):
    (tmp_path/'low.py').write_text("def f():\n    from zsc_nb.high import g\n    return g\n")
    (tmp_path/'high.py').write_text("from .low import f\n")
    (tmp_path/'other.py').write_text("import zsc_nb.low\n")
    graph = import_graph(tmp_path)
    assert graph == {'low': {'high'}, 'high': {'low'}, 'other': {'low'}}
    assert find_cycles(graph) == ['high -> low -> high']


def chapters(pkg:Path=PKG) -> dict:
    "{module: the notebook it is exported from}, read from nbdev's header ('File to edit: ../nbs/08_engine.ipynb')."
    out = {}
    for p in pkg.glob('*.py'):
        m = re.search(r'File to edit: \.\./nbs/(\S+)\.ipynb', p.read_text()[:400])
        if m and p.stem not in SKIP: out[p.stem] = m.group(1)
    return out


def upward_imports(graph:dict, chapter:dict) -> list:
    "'a (its chapter) imports b (a later chapter)' for each import that reaches up the pipeline's order."
    return sorted(f"{a} ({chapter[a]}) imports {b} ({chapter[b]})" for a, bs in graph.items() for b in bs
                  if a in chapter and b in chapter and chapter[b] > chapter[a])


def test_order_checker_finds_a_planted_upward_import():
    assert upward_imports({'low': {'high'}, 'high': set()}, {'low': '01_low', 'high': '02_high'}) == [
        'low (01_low) imports high (02_high)']


def test_lower_stages_never_import_higher_ones():
    up = upward_imports(import_graph(), chapters())
    assert not up, f"imports up the pipeline (chapters are in file-name order; move the code or the chapter): {up}"


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, f"import cycles between library modules (a lower stage imports a higher one): {cycles}"


def test_modules_are_small():
    big = {p.name: n for p in PKG.glob('*.py') if p.stem not in SKIP and (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"library modules over {MAX_LINES} lines (split them along the pipeline's seams): {big}"


def style_problems(src:str, name:str='<src>') -> list:
    """'file:line: why' for each line over `MAX_COLS` columns and each `;` joining statements (a short compound
    one-liner such as `if x: return y` is one thought and allowed). nbdev writes the module docstring (line 1) and
    `__all__` itself."""
    out = [f"{name}:{i}: {len(l)} columns" for i, l in enumerate(src.splitlines(), 1)
           if len(l) > MAX_COLS and i > 1 and not l.startswith('__all__')]
    depth = 0
    for t in tokenize.generate_tokens(io.StringIO(src).readline):
        if t.type == tokenize.OP and t.string in '([{': depth += 1
        elif t.type == tokenize.OP and t.string in ')]}': depth -= 1
        elif t.type == tokenize.OP and t.string == ';' and depth == 0: out.append(f"{name}:{t.start[0]}: statements joined by ;")
    return out


def test_style_checker_finds_planted_faults():
    planted = '"""doc"""\nx = 1; y = 2\nz = "' + 'a' * 130 + '"\nif x: y = 3\ns = "a;b"\n'
    assert style_problems(planted) == ['<src>:3: 136 columns', '<src>:2: statements joined by ;']


def test_library_lines_are_short_with_one_statement_each():
    probs = [q for p in sorted(PKG.glob('*.py')) if p.stem not in SKIP for q in style_problems(p.read_text(), p.name)]
    assert not probs, f"{len(probs)} style problems in library code (edit the notebooks, then nbdev_export): {probs[:10]}"


# Backends a function imports where it needs them: heavy to import (torch loads in ~1 s) or installed only with the
# dev extras, so that importing a module stays light and an extra is needed only when it is used.
LAZY = {'torch', 'torchvision', 'open_clip', 'timm', 'diffusers', 'transformers', 'openai', 'papermill', 'nbdev', 'execnb',
        'sphinx', 'docutils', 'selenium', 'bs4', 'sklearn', 'matplotlib', 'seaborn', 'pandas', 'threadpoolctl',
        'clip_benchmark', 'huggingface_hub', 'datasets', 'yaml', 'packaging'}
HANDLERS = {'cli'}   # a command's handler imports the pipeline it runs (torch) there, so the CLI itself stays torch-free


def local_imports(src:str, module:str) -> list:
    "'module.function: import' for each import inside a function that is neither a `LAZY` backend nor a CLI handler's."
    out = []
    for fn in ast.walk(ast.parse(src)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)): continue
        for n in ast.walk(fn):
            if not isinstance(n, (ast.Import, ast.ImportFrom)): continue
            if isinstance(n, ast.ImportFrom): tops = ['zsc_nb' if n.level else (n.module or '').split('.')[0]]
            else: tops = [a.name.split('.')[0] for a in n.names]
            if all(t in LAZY or (t == 'zsc_nb' and module in HANDLERS) for t in tops): continue
            out.append(f"{module}.{fn.name}: {ast.unparse(n)}")
    return sorted(set(out))


def test_local_import_checker_finds_planted_faults():
    src = "def f():\n    import torch\n    import json\n    from .data import x\n"
    assert local_imports(src, 'engine') == ['engine.f: from .data import x', 'engine.f: import json']
    assert local_imports(src, 'cli') == ['cli.f: import json']


def test_imports_are_at_the_top():
    found = [q for p in sorted(PKG.glob('*.py')) if p.stem not in SKIP for q in local_imports(p.read_text(), p.stem)]
    assert not found, f"imports inside functions that belong at the top of the module: {found[:10]}"
