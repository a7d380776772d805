"""Render README.md from nbs/index.ipynb (markdown cells as they are, code cells as python blocks).
Quarto (nbdev_readme) cannot run on the project's machines; this keeps README.md in step with the notebook.
Usage: python .ci/readme.py [--check]"""
import json, sys, pathlib
root = pathlib.Path(__file__).resolve().parent.parent
nb = json.loads((root/'nbs'/'index.ipynb').read_text())
parts = []
for c in nb['cells']:
    src = ''.join(c['source']).strip()
    if not src or src.startswith('#| hide'): continue
    parts.append(src if c['cell_type'] == 'markdown' else f"```python\n{src}\n```")
text = '\n\n'.join(parts) + '\n'
readme = root/'README.md'
if '--check' in sys.argv:
    if readme.read_text() != text: sys.exit("README.md is out of step with nbs/index.ipynb: run python .ci/readme.py")
else: readme.write_text(text)
