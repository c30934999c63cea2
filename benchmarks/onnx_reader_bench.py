"""openward's ONNX reader against ``onnx.load``, on small and large models, in one run.

What it measures
----------------
Four ONNX files, built here (``onnx.helper`` for the graphs; the large tensor
payloads are streamed to disk so that building them never holds them in memory):

- ``small``: a two-node MLP (a few hundred bytes);
- ``graph-30k``: 30,000 nodes with attributes and 3,000 small initializers, the
  shape of a large transformer export (~55 MB);
- ``weights-500MB``: 500 MB of initializers in the file (250 tensors of 2 MB);
- ``external-500MB``: the same weights as external data beside a small model file.

For each file, in this process (median of ``--repeat`` runs, caches warm):

- ``openward``: map the file and ``openward.artifacts.onnx.read_onnx_model``;
- ``onnx.load``: ``onnx.load(path, load_external_data=False)``, what openward did
  before (and what most tools do).

Then once per process, in fresh interpreters (median of ``--repeat``):

- the import each needs: ``import openward.artifacts.onnx`` vs ``import onnx``;
- ``openward scan FILE`` and ``openward inspect FILE`` end to end (the CLI's whole
  start-up included), which is what a user waits for.

Both readers must agree on the node and initializer counts (checked here).
``--baseline-src DIR`` adds the CLI timings of another checkout's ``src`` (the
code before this reader, which parsed with ``onnx``), run in the same session.

Usage::

    .venv/bin/python benchmarks/onnx_reader_bench.py [--out DIR] [--repeat 5] [--skip-large]
        [--baseline-src /path/to/other/checkout/src]

Files are built once under ``benchmarks/.corpus/onnx`` and reused.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OPENWARD = Path(sys.executable).with_name("openward")
MB = 1_000_000


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload_len: int) -> bytes:
    return _varint(number << 3 | 2) + _varint(payload_len)


def build_small(path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "fc.weight")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "fc.weight"], ["h"]),
            helper.make_node("Relu", ["h"], ["y"]),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [w],
    )
    onnx.save(helper.make_model(graph), path)


def build_graph_heavy(path: Path, nodes: int = 30_000, initializers: int = 3_000) -> None:
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    made = []
    for i in range(nodes):
        extra = {"perm": [0, 2, 1, 3]} if i % 3 == 0 else {}
        made.append(
            helper.make_node(
                "Transpose" if i % 3 == 0 else "MatMul",
                [f"/model/layers.{i}/attn/MatMul_output_0", f"model.layers.{i % initializers}.w"],
                [f"/model/layers.{i + 1}/attn/MatMul_output_0"],
                name=f"/model/layers.{i}/attn/MatMul",
                **extra,
            )
        )
    inits = [
        numpy_helper.from_array(np.zeros((64, 64), dtype=np.float32), f"model.layers.{i}.w")
        for i in range(initializers)
    ]
    onnx.save(helper.make_model(helper.make_graph(made, "g", [], [], inits)), path)


def build_weights(
    path: Path, total: int = 500 * MB, tensor: int = 2 * MB, external: bool = False
) -> None:
    """A model whose graph holds ``total`` bytes of float32 initializers, streamed to disk
    (one ``graph`` field whose length is computed first), or kept in a data file beside
    it (``external``)."""
    from onnx import TensorProto, helper

    count = total // tensor
    chunk = os.urandom(1 << 20)
    node = helper.make_node("Add", ["w0", "w1"], ["y"]).SerializeToString()
    headers = []
    for i in range(count):
        t = TensorProto()
        t.name = f"layers.{i}.weight"
        t.dims.extend([tensor // 4])
        t.data_type = TensorProto.FLOAT
        if external:
            t.data_location = TensorProto.EXTERNAL
            for key, value in (
                ("location", path.name + ".data"),
                ("offset", str(i * tensor)),
                ("length", str(tensor)),
            ):
                entry = t.external_data.add()
                entry.key, entry.value = key, value
        headers.append(t.SerializeToString())
    raw_field = b"" if external else _field(9, tensor)
    tensor_len = [len(h) + len(raw_field) + (0 if external else tensor) for h in headers]
    graph_len = (
        len(_field(1, len(node))) + len(node) + sum(len(_field(5, n)) + n for n in tensor_len)
    )
    with open(path, "wb") as f:
        f.write(b"\x08\x09")  # ir_version 9
        f.write(_field(7, graph_len))
        f.write(_field(1, len(node)) + node)
        for header, n in zip(headers, tensor_len, strict=True):
            f.write(_field(5, n) + header)
            if not external:
                f.write(raw_field)
                _write_payload(f, tensor, chunk)
        opset = helper.make_opsetid("", 17).SerializeToString()
        f.write(_field(8, len(opset)) + opset)
    if external:
        with open(path.with_name(path.name + ".data"), "wb") as f:
            _write_payload(f, total, chunk)


def _write_payload(f: object, n: int, chunk: bytes) -> None:
    while n > 0:
        piece = chunk[: min(n, len(chunk))]
        f.write(piece)  # type: ignore[attr-defined]
        n -= len(piece)


FILES: dict[str, Callable[[Path], None]] = {
    "small": build_small,
    "graph-30k": build_graph_heavy,
    "weights-500MB": build_weights,
    "external-500MB": lambda p: build_weights(p, external=True),
}


def _size(n: int) -> str:
    return f"{n / MB:,.1f} MB" if n >= MB else f"{n / 1000:,.1f} kB"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _fresh(args: list[str], repeat: int, src: Path = REPO / "src") -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / ".corpus" / "onnx")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-large", action="store_true", help="only the small files")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src, for the CLI")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    import onnx

    from openward.artifacts.blob import MappedFile
    from openward.artifacts.onnx import read_onnx_model

    args.out.mkdir(parents=True, exist_ok=True)
    names = [n for n in FILES if not (args.skip_large and "500MB" in n)]
    print(
        f"# ONNX reader benchmark, {datetime.date.today()}, {platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, onnx {onnx.__version__}"
    )
    print()
    base = args.baseline_src
    print(
        "| file | size | openward reader | onnx.load | `openward scan` (CLI) | "
        "`openward inspect` (CLI) |" + (" scan, baseline | inspect, baseline |" if base else "")
    )
    print("|---|---|---|---|---|---|" + ("---|---|" if base else ""))
    for name in names:
        path = args.out / f"{name}.onnx"
        if not path.exists():
            FILES[name](path)
        size = path.stat().st_size

        def ours(path: Path = path) -> tuple[int, int]:
            with MappedFile(path) as mapped:
                model = read_onnx_model(mapped.blob)
                assert model.graph is not None
                return len(model.graph.nodes), len(model.graph.initializers)

        def theirs(path: Path = path) -> tuple[int, int]:
            model = onnx.load(str(path), load_external_data=False)
            return len(model.graph.node), len(model.graph.initializer)

        assert ours() == theirs(), name
        t_ours = _median(ours, args.repeat)
        t_onnx = _median(theirs, args.repeat)
        t_scan = _fresh([str(OPENWARD), "scan", str(path), "--quiet"], args.repeat)
        t_inspect = _fresh([str(OPENWARD), "inspect", str(path), "--json"], args.repeat)
        row = (
            f"| {name} | {_size(size)} | {_ms(t_ours)} | {_ms(t_onnx)} | {t_scan:.2f} s | "
            f"{t_inspect:.2f} s |"
        )
        if base:
            b_scan = _fresh([str(OPENWARD), "scan", str(path), "--quiet"], args.repeat, base)
            b_inspect = _fresh([str(OPENWARD), "inspect", str(path), "--json"], args.repeat, base)
            row += f" {b_scan:.2f} s | {b_inspect:.2f} s |"
        print(row)
    py = sys.executable
    t_import_ours = _fresh([py, "-c", "import openward.artifacts.onnx"], args.repeat)
    t_import_onnx = _fresh([py, "-c", "import onnx"], args.repeat)
    t_python = _fresh([py, "-c", "pass"], args.repeat)
    print()
    print("| start-up, fresh interpreter | median |")
    print("|---|---|")
    print(f"| `python -c pass` | {t_python * 1000:.0f} ms |")
    print(f"| `import openward.artifacts.onnx` | {t_import_ours * 1000:.0f} ms |")
    print(f"| `import onnx` | {t_import_onnx * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
