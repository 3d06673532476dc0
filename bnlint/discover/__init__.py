"""Which files a run checks and how: the paths the user named (files,
directories, ``file.py::Name`` targets) and the import policy that decides,
from a file's source alone, whether importing it to build models is safe and
useful. Torch-free; nothing here imports or runs user code."""
