"""radbench: reproduce and re-test the RadImageNet transfer-learning benchmark."""

import importlib.util as _util
import sys as _sys

__version__ = "0.1.0"


def _triton_before_tensorflow() -> None:
    """PyPI's TensorFlow (2.20 and later) loads its statically linked LLVM into the global symbol
    table, and triton (which PyPI's torch brings, and torch loads lazily: torchvision.ops,
    torch.compile) crashes the process with SIGSEGV when it loads after it (tensorflow#124205).
    Where both are installed, triton's library is loaded first, as radbench starts."""
    if "tensorflow" in _sys.modules or "triton" in _sys.modules:
        return
    if _util.find_spec("triton") is None or _util.find_spec("tensorflow") is None:
        return
    try:
        import triton  # noqa: F401
    except Exception:  # a broken triton is torch's business, not a reason to stop radbench
        pass


_triton_before_tensorflow()
