__version__ = "0.1.0"
import warnings as _w
# tqdm.auto in a kernel without ipywidgets falls back to plain bars and says so on every import: not worth a line
_w.filterwarnings('ignore', message='IProgress not found')
