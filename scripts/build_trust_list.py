"""Generate the pickle policy's trust list of classes from well-known ML libraries.

A real model file names the classes of the library that wrote it (gensim's
``Word2Vec``, scikit-learn's ``_CalibratedClassifier``, omegaconf's
``ListConfig``...). The pickle policy allows such a class only when this list
says it is inert when a pickle builds it, and this script is what says so: for
every class of the libraries in :data:`LIBRARIES` it imports the *library*
(trusted, installed code; never a pickle) and runs
:func:`openward.scanning.trust_checks.check_class` over it, which reads the
source of every hook the unpickler can reach (``__new__``, ``__setstate__``,
``__init__`` for ``REDUCE``, ``__setattr__``, ``__del__``...) and fails it when
it passes the pickle's data to a primitive or calls a value the data supplies.
Classes that pass are listed with how a pickle may build them; classes that
fail are listed under ``excluded`` with the reason. Functions that legitimate
pickles call at load (numpy's ``_reconstruct``, pandas' ``_unpickle_block``)
or store as attributes (madmom's activations) are curated below, each with a
reason, and checked the same way.

Each library is generated in its own process: its import-time workarounds
(``shims`` below) stay there, a module that fails to import is reported and
skipped, and a worker that fails stops the run with the file unchanged. Every
library's spec can build sample objects with the library itself; the globals
their pickles name are read from the opcodes and must all be on the list (or
on the hand-written allowlist), which catches reducers the curation missed;
the run prints any that are not.

Run it in an environment with the libraries installed (a separate venv: the
set is large; see docs/scan.md, "The pickle policy")::

    python3 -m venv /work/trust-venv
    /work/trust-venv/bin/pip install torch==2.13.0   # first: anything else pulls CUDA
    /work/trust-venv/bin/pip install scikit-learn scipy pandas pyarrow gensim nltk \
        sklearn-crfsuite python-crfsuite lightgbm xgboost-cpu catboost statsmodels \
        hmmlearn umap-learn imbalanced-learn category_encoders transformers tokenizers \
        sentencepiece omegaconf lightning pytorch-lightning ctparse
    /work/trust-venv/bin/pip install --no-deps torchvision==0.28.0 torchaudio==2.8.0 \
        pyannote.audio==3.3.2 ...   # and the pyannote packages it imports
    /work/trust-venv/bin/pip install --no-build-isolation --no-deps madmom  # needs cython
    PYTHONPATH=src /work/trust-venv/bin/python scripts/build_trust_list.py [--only DIST ...]

The torchvision and torchaudio wheels on PyPI are CUDA builds whose native
operators cannot load next to a CPU torch; the torch shim lets their Python
code import (nothing native is checked there), and torchaudio's native
libraries were moved out of the package in that environment. madmom 0.16.1
predates Python 3.10 and numpy 2; its shim restores the removed aliases.

It writes ``src/openward/scanning/data/trusted_globals.json``. A library that
is not installed keeps its previous entries (the previous file is read back)
unless ``--drop-missing`` is given. The tests re-run the same checks over the
shipped list against whatever is installed (tests/scanning/test_trust_list.py).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime
import fnmatch
import importlib
import importlib.metadata
import inspect
import json
import os
import pickle
import pickletools
import pkgutil
import subprocess
import sys
import tempfile
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

OUT = ROOT / "src" / "openward" / "scanning" / "data" / "trusted_globals.json"
SCHEMA = 1

# -- the curated spec ---------------------------------------------------------------

# Import-time workarounds for the generation environment only. They make a
# library importable where its native parts cannot load (CUDA builds of
# torchvision/torchaudio on a CPU torch) or where an old release predates the
# installed Python/numpy; none changes the code being checked.
SHIM_TORCH_EXTENSIONS = """
import torch, torch.library
_register_fake = torch.library.register_fake
def _tolerant(op, *a, **k):
    def deco(f):
        try:
            return _register_fake(op, *a, **k)(f)
        except Exception:
            return f
    return deco
torch.library.register_fake = _tolerant
try:
    import torchvision
except ImportError:
    pass
finally:
    torch.library.register_fake = _register_fake
try:
    import torchaudio
    torchaudio.list_audio_backends = lambda: ["soundfile"]
except Exception:
    pass
"""
SHIM_OLD_PYTHON = """
import builtins, collections, collections.abc
import numpy
for _n in ("MutableSequence", "Sequence", "Mapping", "MutableMapping", "Iterable", "Callable"):
    setattr(collections, _n, getattr(collections.abc, _n))
for _n in ("float", "int", "complex", "object", "str"):
    setattr(numpy, _n, getattr(builtins, _n))
"""


@dataclass
class Library:
    """One library: what of it to walk, and what was curated by hand, with why."""

    dist: str
    """PyPI distribution name (its installed version is recorded)."""
    packages: tuple[str, ...]
    """Top-level import names: the analysis follows calls into them."""
    why: str
    walk: tuple[str, ...] = ()
    """Module name patterns (fnmatch) whose classes are checked; ``()``: none."""
    exclude: tuple[str, ...] = ()
    """Module name patterns never walked, with the reason in a comment."""
    classes: tuple[str, ...] = ()
    """Extra ``module:name`` classes to check (outside the walked modules)."""
    functions: dict[str, str] = field(default_factory=dict)
    """``module:name`` -> why a legitimate pickle names this function."""
    constructors: dict[str, str] = field(default_factory=dict)
    """Native functions that construct the class they are given (``newObj(cls)`` is
    ``cls.__new__(cls)``, like ``NEWOBJ``): ``module:name`` -> why. Listed with
    ``calls_arguments``, since their source cannot be read."""
    constants: dict[str, str] = field(default_factory=dict)
    """``module:name`` -> why: values that are neither classes nor functions."""
    alias_modules: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Historical module name -> (current module, provenance): every class of the
    current module is also trusted under the historical name."""
    historical: dict[str, tuple[str, str]] = field(default_factory=dict)
    """``module:name`` an older release wrote -> (current ``module:name`` whose
    checks stand for it, provenance). For names the installed release no longer
    resolves: a load fails there before anything is built."""
    reviewed: dict[str, tuple[str, str]] = field(default_factory=dict)
    """``module:qualname`` of a function the check flags -> (source digest, why a
    person found it inert). The review lapses when the source changes."""
    samples: str = ""
    """Python code that sets ``objects``: real objects of the library whose
    pickles' globals must all be covered."""
    shims: tuple[str, ...] = ()


# scikit-learn 0.22 renamed these modules (old -> new, under ``sklearn.``); pickles
# written by 0.21 and earlier name the old paths (profanity-check's model.pkl carries
# sklearn.svm.classes.LinearSVC). From scikit-learn's deprecated_modules.py (0.22).
_SKLEARN_021_MODULES = {
    **{
        f"ensemble.{o}": f"ensemble.{n}"
        for o, n in [
            ("bagging", "_bagging"), ("base", "_base"), ("forest", "_forest"),
            ("gradient_boosting", "_gb"), ("iforest", "_iforest"), ("voting", "_voting"),
            ("weight_boosting", "_weight_boosting"),
        ]
    },
    "tree.tree": "tree._classes",
    "neural_network.rbm": "neural_network._rbm",
    "neural_network.multilayer_perceptron": "neural_network._multilayer_perceptron",
    "utils.weight_vector": "utils._weight_vector",
    "utils.seq_dataset": "utils._seq_dataset",
    "utils.fast_dict": "utils._fast_dict",
    **{
        f"cluster.{o}": f"cluster.{n}"
        for o, n in [
            ("affinity_propagation_", "_affinity_propagation"), ("bicluster", "_bicluster"),
            ("birch", "_birch"), ("dbscan_", "_dbscan"), ("hierarchical", "_agglomerative"),
            ("k_means_", "_kmeans"), ("mean_shift_", "_mean_shift"), ("optics_", "_optics"),
            ("spectral", "_spectral"),
        ]
    },
    "mixture.base": "mixture._base",
    "mixture.gaussian_mixture": "mixture._gaussian_mixture",
    "mixture.bayesian_mixture": "mixture._bayesian_mixture",
    **{
        f"covariance.{o}": f"covariance.{n}"
        for o, n in [
            ("empirical_covariance_", "_empirical_covariance"),
            ("shrunk_covariance_", "_shrunk_covariance"),
            ("robust_covariance", "_robust_covariance"), ("graph_lasso_", "_graph_lasso"),
            ("elliptic_envelope", "_elliptic_envelope"),
        ]
    },
    "cross_decomposition.cca_": "cross_decomposition._cca",
    "cross_decomposition.pls_": "cross_decomposition._pls",
    "svm.base": "svm._base",
    "svm.classes": "svm._classes",
    **{
        f"decomposition.{o}": f"decomposition.{n}"
        for o, n in [
            ("base", "_base"), ("dict_learning", "_dict_learning"),
            ("factor_analysis", "_factor_analysis"), ("fastica_", "_fastica"),
            ("incremental_pca", "_incremental_pca"), ("kernel_pca", "_kernel_pca"),
            ("nmf", "_nmf"), ("online_lda", "_lda"), ("pca", "_pca"),
            ("sparse_pca", "_sparse_pca"), ("truncated_svd", "_truncated_svd"),
        ]
    },
    "gaussian_process.gpr": "gaussian_process._gpr",
    "gaussian_process.gpc": "gaussian_process._gpc",
    "feature_extraction.dict_vectorizer": "feature_extraction._dict_vectorizer",
    "feature_extraction.hashing": "feature_extraction._hash",
    **{
        f"linear_model.{o}": f"linear_model.{n}"
        for o, n in [
            ("base", "_base"), ("bayes", "_bayes"), ("coordinate_descent", "_coordinate_descent"),
            ("huber", "_huber"), ("least_angle", "_least_angle"), ("logistic", "_logistic"),
            ("omp", "_omp"), ("passive_aggressive", "_passive_aggressive"),
            ("perceptron", "_perceptron"), ("ransac", "_ransac"), ("ridge", "_ridge"),
            ("sag_fast", "_sag_fast"), ("sgd_fast", "_sgd_fast"),
            ("stochastic_gradient", "_stochastic_gradient"), ("theil_sen", "_theil_sen"),
        ]
    },
    "metrics.scorer": "metrics._scorer",
    **{
        f"neighbors.{o}": f"neighbors.{n}"
        for o, n in [
            ("ball_tree", "_ball_tree"), ("base", "_base"), ("classification", "_classification"),
            ("dist_metrics", "_dist_metrics"), ("graph", "_graph"), ("kd_tree", "_kd_tree"),
            ("kde", "_kde"), ("lof", "_lof"), ("nca", "_nca"),
            ("nearest_centroid", "_nearest_centroid"), ("quad_tree", "_quad_tree"),
            ("regression", "_regression"), ("unsupervised", "_unsupervised"),
        ]
    },
    "manifold.isomap": "manifold._isomap",
    "manifold.locally_linear": "manifold._locally_linear",
    "manifold.mds": "manifold._mds",
    "manifold.spectral_embedding_": "manifold._spectral_embedding",
    "manifold.t_sne": "manifold._t_sne",
    "semi_supervised.label_propagation": "semi_supervised._label_propagation",
    "preprocessing.data": "preprocessing._data",
    "preprocessing.label": "preprocessing._label",
    **{
        f"feature_selection.{o}": f"feature_selection.{n}"
        for o, n in [
            ("base", "_base"), ("from_model", "_from_model"), ("rfe", "_rfe"),
            ("univariate_selection", "_univariate_selection"),
            ("variance_threshold", "_variance_threshold"),
        ]
    },
}  # fmt: skip

_TESTS = ("*.tests", "*.tests.*", "*.test", "*.test.*", "*.testing", "*.testing.*", "*._testing*")

LIBRARIES: tuple[Library, ...] = (
    Library(
        "python",
        ("typing", "builtins"),
        "standard-library values that real pickles reference",
        classes=("typing:Any",),
        functions={
            "builtins:hash": "stored as word2vec's hashfxn attribute by gensim 3.x; calls "
            "__hash__ of its argument, code of a class the policy judged",
        },
        constants={
            f"typing:{n}": "a typing special form: a constant (calling one raises TypeError)"
            for n in [
                "Optional",
                "Union",
                "List",
                "Dict",
                "Tuple",
                "Set",
                "FrozenSet",
                "Callable",
                "Type",
                "Sequence",
                "Mapping",
                "Iterable",
                "Iterator",
                "ClassVar",
                "Final",
                "Literal",
                "NoReturn",
                "Generic",
            ]
        },
    ),
    Library(
        "numpy",
        ("numpy",),
        "arrays, dtypes, scalars and random generators in every pickle that holds numbers",
        walk=(
            "numpy",
            "numpy.dtypes",
            "numpy.ma.core",
            "numpy.matrixlib.defmatrix",
            "numpy.random.*",
            "numpy._core.records",
            "numpy.lib._function_base_impl",
        ),
        exclude=("numpy.random.tests*", "numpy.random._examples*"),
        functions={
            "numpy._core.multiarray:_reconstruct": "ndarray.__reduce__: rebuilds an empty array",
            "numpy._core.multiarray:scalar": "numpy scalars' __reduce__",
            "numpy._core.numeric:_frombuffer": "protocol-5 arrays: an array over a buffer",
            "numpy.core._internal:_reconstruct": "arrays pickled before numpy 1.0 "
            "(numpy keeps it for them): ndarray.__new__(subtype, shape, dtype)",
            "numpy.ma.core:_mareconstruct": "masked arrays' __reduce__",
            "numpy.random._pickle:__randomstate_ctor": "RandomState.__reduce__ (numpy >= 1.17)",
            "numpy.random._pickle:__bit_generator_ctor": "bit generators' __reduce__",
            "numpy.random._pickle:__generator_ctor": "Generator.__reduce__",
            "numpy.random:__RandomState_ctor": "RandomState.__reduce__ before numpy 1.17 "
            "(12 gensim files); numpy still exports it for them",
            "numpy.random.bit_generator:__pyx_unpickle_SeedSequence": "SeedSequence (Cython)",
            "numpy._core._internal:_convert_to_stringdtype_kwargs": "StringDType's __reduce__",
            "numpy.core.multiarray:_reconstruct": "numpy 1.x spelling (numpy 2 maps numpy.core)",
            "numpy.core.multiarray:scalar": "numpy 1.x spelling",
            "numpy.core.numeric:_frombuffer": "numpy 1.x spelling",
            "numpy.core:_ufunc_reconstruct": "ufuncs pickled by numpy < 2 (listed to record "
            "that it is checked and refused: it imports a module by name)",
        },
        samples="""
import numpy as np
objects = [np.arange(3), np.float64(1), np.dtype('f8'), np.dtype([('a', 'f4')]),
    np.random.RandomState(0), np.random.default_rng(0), np.random.SeedSequence(1),
    np.random.Generator(np.random.PCG64DXSM(1)), np.random.Generator(np.random.Philox(1)),
    np.random.Generator(np.random.SFC64(1)), np.random.Generator(np.random.MT19937(1)),
    np.ma.masked_array([1, 2], [0, 1]), np.matrix([[1]]), np.array(['a'], dtype=object),
    np.datetime64('2020'), np.array([1], dtype=np.dtypes.StringDType()),
    np.rec.array([(1, 2.0)], dtype=[('a', 'i4'), ('b', 'f8')])]
""",
    ),
    Library(
        "scipy",
        ("scipy",),
        "sparse matrices, frozen distributions, KD-trees, interpolators inside estimators",
        walk=(
            "scipy.sparse",
            "scipy.sparse._*",
            "scipy.stats",
            "scipy.stats._*",
            "scipy.interpolate",
            "scipy.interpolate._*",
            "scipy.spatial",
            "scipy.spatial._*",
            "scipy.spatial.transform",
            "scipy.spatial.transform._*",
            "scipy.optimize._optimize",
            "scipy.signal._ltisys",
            "scipy.special",
        ),
        exclude=_TESTS,
        functions={
            **{
                f"scipy.interpolate._interpolate:interp1d.{m}": "interp1d stores the "
                "evaluation method it chose as an attribute (a protocol-4 dotted name)"
                for m in (
                    "_call_linear_np",
                    "_call_linear",
                    "_call_nearest",
                    "_call_previousnext",
                    "_call_spline",
                    "_call_nan_spline",
                )
            },
            "scipy._lib.array_api_compat.numpy._aliases:asarray": "the array-API namespace "
            "function scipy objects store to convert inputs",
        },
        samples="""
import numpy as np, scipy.sparse as sp, scipy.stats as st
import scipy.interpolate as si, scipy.spatial as ss
x = np.linspace(0, 1, 10)
objects = [sp.csr_matrix(np.eye(2)), sp.csr_array(np.eye(2)), sp.csc_matrix(np.eye(2)),
    sp.coo_matrix(np.eye(2)), sp.lil_matrix(np.eye(2)), sp.dok_matrix(np.eye(2)),
    sp.bsr_matrix(np.eye(2)), sp.dia_matrix(np.eye(2)), st.norm(0, 1).__dict__['dist'].__class__,
    st.gaussian_kde(np.random.rand(10)), ss.KDTree(np.eye(3)), ss.cKDTree(np.eye(3)),
    si.interp1d(x, x), si.CubicSpline(x, x), si.make_interp_spline(x, x),
    ss.transform.Rotation.identity()]
""",
    ),
    Library(
        "scikit-learn",
        ("sklearn",),
        "estimators, pipelines and their Cython trees and losses (every class sklearn "
        "defines, private ones included: real files carry "
        "sklearn.calibration._CalibratedClassifier)",
        walk=("sklearn", "sklearn.*"),
        exclude=(
            *_TESTS,
            "sklearn.externals*",  # vendored third-party code, not sklearn's
            "sklearn.utils._test_common*",
            "sklearn.conftest",
        ),
        alias_modules={
            **{
                f"sklearn.{old}": (
                    f"sklearn.{new}",
                    "scikit-learn <= 0.21 module path; 0.22 made the module private "
                    "(deprecated alias until 0.24: sklearn/_build_utils/deprecated_modules.py)",
                )
                for old, new in _SKLEARN_021_MODULES.items()
            },
            "_loss": (
                "sklearn._loss._loss",
                "scikit-learn 1.5-1.8 wheels (meson builds) set __module__ = '_loss' on "
                "the Cython Cy* loss types, so pickles name _loss.CyHalfBinomialLoss "
                "(quantulum3's clf.joblib, sklearn 1.8.0); fixed in 1.9 "
                "(scikit-learn PR #33770)",
            ),
        },
        constructors={
            f"sklearn.{m}:newObj": "BinaryTree/DistanceMetric __reduce__ (Cython): "
            "newObj(cls) returns cls.__new__(cls)"
            for m in ("metrics._dist_metrics", "neighbors._kd_tree", "neighbors._ball_tree")
        },
        historical={
            "sklearn.externals.joblib.numpy_pickle:NumpyArrayWrapper": (
                "joblib.numpy_pickle:NumpyArrayWrapper",
                "scikit-learn < 0.23 vendored joblib; also on the hand-written allowlist",
            ),
        },
        samples="""
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import LinearSVC
from sklearn.ensemble import RandomForestClassifier, HistGradientBoostingClassifier
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.gaussian_process import GaussianProcessRegressor
X = np.random.RandomState(0).rand(40, 3); y = (X[:, 0] > .5).astype(int)
docs = ['red apple', 'green pear', 'blue plum', 'ripe fig'] * 10
objects = [make_pipeline(TfidfVectorizer(), CalibratedClassifierCV(LinearSVC(), cv=2)).fit(docs, y),
    make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
    RandomForestClassifier(n_estimators=2).fit(X, y),
    HistGradientBoostingClassifier(max_iter=2).fit(X, y),
    GradientBoostingClassifier(n_estimators=2).fit(X, y), SGDClassifier(loss='log_loss').fit(X, y),
    KNeighborsClassifier().fit(X, y), KMeans(2, n_init=1).fit(X), PCA(2).fit(X),
    GaussianProcessRegressor().fit(X, y)]
""",
    ),
    Library(
        "pandas",
        ("pandas",),
        "DataFrames, Series and indexes pickled into estimators and feature stores",
        walk=(
            "pandas",
            "pandas.arrays",
            "pandas.core.frame",
            "pandas.core.series",
            "pandas.core.generic",
            "pandas.core.indexes.*",
            "pandas.core.internals.*",
            "pandas.core.arrays",
            "pandas.core.arrays.*",
            "pandas.core.dtypes.dtypes",
            "pandas.core.flags",
            "pandas._libs.*",
            "pandas.tseries.offsets",
        ),
        exclude=_TESTS,
        functions={
            "pandas.core.indexes.base:_new_Index": "Index.__reduce__",
            "pandas.core.indexes.datetimes:_new_DatetimeIndex": "DatetimeIndex.__reduce__",
            "pandas.core.indexes.period:_new_PeriodIndex": "PeriodIndex.__reduce__",
            "pandas._libs.internals:_unpickle_block": "Block.__reduce__ (Cython)",
            "pandas._libs.arrays:__pyx_unpickle_NDArrayBacked": "NDArrayBacked (Cython)",
            "pandas._libs.tslibs.nattype:_nat_unpickle": "NaT.__reduce__",
            "pandas._libs.tslibs.timedeltas:_timedelta_unpickle": "Timedelta.__reduce__",
            "pandas._libs.tslibs.timestamps:_unpickle_timestamp": "Timestamp.__reduce__",
            "pandas.core.indexes.timedeltas:_new_TimedeltaIndex": "TimedeltaIndex.__reduce__",
            "pandas._libs.interval:__pyx_unpickle_IntervalMixin": "Interval (Cython)",
            "pandas.core.internals.blocks:new_block": "Block pickles of pandas 1.x",
        },
        constants={"pandas:NA": "the missing-value singleton (pandas._libs.missing.NA)"},
        samples="""
import pandas as pd, numpy as np
df = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y'], 'c': pd.Categorical(['u', 'v']),
    'd': pd.to_datetime(['2020-01-01', '2020-01-02']), 'e': pd.array([1, None], dtype='Int64'),
    'f': pd.array([True, None], dtype='boolean'), 'g': pd.array([1.5, None], dtype='Float64')})
objects = [df, df['a'], df.index, pd.MultiIndex.from_tuples([(1, 2)]), pd.Timestamp('2020'),
    pd.Timedelta(1), pd.NaT, pd.Period('2020'), pd.Interval(0, 1), pd.date_range('2020', periods=2),
    pd.RangeIndex(3), pd.CategoricalIndex(['a']), pd.offsets.Day(), df.set_index('d'),
    pd.Series([1.0], index=pd.period_range('2020', periods=1, freq='M')),
    pd.arrays.SparseArray([0, 1]), pd.NA, df.astype({'b': 'string'}),
    pd.Series(pd.interval_range(0, 2)), pd.timedelta_range('1D', periods=2),
    pd.Series([1], dtype='int64[pyarrow]') if False else 1,
    pd.date_range('2020', periods=2, tz='UTC')]
""",
    ),
    Library(
        "pyarrow",
        ("pyarrow",),
        "Arrow-backed pandas columns (pandas 3's default string dtype when pyarrow is "
        "installed) and Arrow tables: their reducers only",
        functions={
            f"pyarrow.lib:{name}": f"{why} (Cython; read in the .pxi source the wheel ships)"
            for name, why in [
                ("_restore_array", "Array.__reduce__: rebuilds an array from its buffers"),
                ("py_buffer", "wraps bytes in an Arrow buffer"),
                ("type_for_alias", "DataType.__reduce__: a type from its alias (a dict lookup)"),
                ("chunked_array", "ChunkedArray.__reduce__"),
                ("_reconstruct_table", "Table.__reduce__"),
                ("schema", "Schema.__reduce__"),
                ("field", "Field.__reduce__"),
                ("timestamp", "TimestampType.__reduce__"),
                ("list_", "ListType.__reduce__"),
                ("dictionary", "DictionaryType.__reduce__"),
            ]
        },
        samples="""
import pyarrow as pa, pandas as pd
objects = [pa.table({'a': [1], 's': ['x'], 't': pa.array([1], pa.timestamp('ms')), 'l': [[1]],
                     'd': pa.array(['a']).dictionary_encode()}),
           pd.DataFrame({'s': pd.array(['a'], dtype='string[pyarrow]'),
                         'i': pd.array([1], dtype='int64[pyarrow]')}), pd.Series(['a', 'b'])]
""",
    ),
    Library(
        "gensim",
        ("gensim",),
        "Word2Vec/Doc2Vec/FastText/LDA models and dictionaries saved with SaveLoad",
        walk=(
            "gensim.models",
            "gensim.models.*",
            "gensim.corpora",
            "gensim.corpora.*",
            "gensim.similarities",
            "gensim.similarities.*",
            "gensim.utils",
            "gensim.matutils",
            "gensim.interfaces",
            "gensim.topic_coherence.*",
            "gensim.parsing.*",
        ),
        exclude=(*_TESTS, "gensim.test*", "gensim.downloader", "gensim.scripts*"),
        functions={
            "gensim.utils:call_on_class_only": "stored as the instance attribute `load` "
            "of every SaveLoad object; raises AttributeError when called",
            "gensim.models.phrases:original_scorer": "Phrases' default scoring function, stored",
            "gensim.models.phrases:npmi_scorer": "Phrases' NPMI scoring function, stored",
            "gensim.models.ensemblelda:mass_masking": "EnsembleLda's masking method, stored",
            "gensim.models.ensemblelda:rank_masking": "EnsembleLda's masking method, stored",
            "gensim.models.tfidfmodel:smartirs_wlocal": "TfidfModel's term weighting, stored",
            "gensim.models.tfidfmodel:smartirs_wglobal": "TfidfModel's document weighting, stored",
            "gensim.models.tfidfmodel:smartirs_normalize": "TfidfModel's normalisation, stored",
            "gensim.models.tfidfmodel:df2idf": "TfidfModel's default wglobal, stored",
            "gensim.matutils:unitvec": "TfidfModel's normalize in gensim 3.x, stored",
            "gensim.utils:identity": "TfidfModel's default wlocal, stored (returns its argument)",
        },
        historical={
            "gensim.models.doc2vec:DocvecsArray": (
                "gensim.models.keyedvectors:KeyedVectors",
                "gensim < 4 Doc2Vec.docvecs; gensim 4 cannot import it. Under gensim 3.8.3 "
                "a SaveLoad subclass without __setstate__/__del__/__setattr__ (source read)",
            ),
            "gensim.models.wrappers.fasttext:FastText": (
                "gensim.models.fasttext:FastText",
                "gensim < 3.8 fastText wrapper; gensim 4 cannot import it. Under gensim "
                "3.8.3 it is gensim.models.deprecated.fasttext_wrapper.FastText, with no "
                "__setstate__/__del__/__setattr__ in that package (source read)",
            ),
            "gensim.models.wrappers.fasttext:FastTextKeyedVectors": (
                "gensim.models.fasttext:FastTextKeyedVectors",
                "as gensim.models.wrappers.fasttext.FastText",
            ),
            "gensim.models.deprecated.fasttext_wrapper:FastText": (
                "gensim.models.fasttext:FastText",
                "gensim 3.x; gensim 4 cannot import it (see wrappers.fasttext.FastText)",
            ),
        },
        samples="""
from gensim.models import Word2Vec, Doc2Vec, FastText, LdaModel, TfidfModel
from gensim.models.doc2vec import TaggedDocument
from gensim.models.phrases import Phrases
from gensim.corpora import Dictionary
texts = [['a', 'b', 'c'], ['b', 'c', 'd'], ['c', 'd', 'a']] * 5
d = Dictionary(texts); bow = [d.doc2bow(t) for t in texts]
objects = [Word2Vec(texts, vector_size=4, min_count=1, workers=1, epochs=1),
    FastText(texts, vector_size=4, min_count=1, workers=1, epochs=1),
    Doc2Vec([TaggedDocument(t, [i]) for i, t in enumerate(texts)], vector_size=4, min_count=1,
            workers=1, epochs=1),
    LdaModel(bow, num_topics=2, id2word=d, passes=1), TfidfModel(bow), d,
    Phrases(texts, min_count=1)]
""",
    ),
    Library(
        "nltk",
        ("nltk",),
        "taggers, tokenizer parameters, classifiers and frequency distributions",
        walk=(
            "nltk.tag.*",
            "nltk.tokenize.*",
            "nltk.stem.*",
            "nltk.classify.*",
            "nltk.probability",
            "nltk.chunk.*",
            "nltk.tree.*",
            "nltk.lm.*",
        ),
        exclude=(
            *_TESTS,
            # wrappers that run external programs (Stanford, SENNA, hunpos, MEGAM, TADM, Weka)
            "nltk.tag.stanford",
            "nltk.tag.senna",
            "nltk.tag.hunpos",
            "nltk.classify.megam",
            "nltk.classify.tadm",
            "nltk.classify.weka",
            "nltk.tokenize.stanford*",
            "nltk.tokenize.repp",
            "nltk.classify.scikitlearn",
        ),
    ),
    Library(
        "sklearn-crfsuite",
        ("sklearn_crfsuite", "pycrfsuite"),
        "CRF taggers (pyvi, khmer-nltk, tltk and others ship them)",
        walk=("sklearn_crfsuite", "sklearn_crfsuite.*"),
    ),
    Library(
        "python-crfsuite",
        ("pycrfsuite",),
        "the CRFsuite binding sklearn-crfsuite pickles its training log with",
        walk=("pycrfsuite", "pycrfsuite.*"),
    ),
    Library(
        "lightgbm",
        ("lightgbm",),
        "gradient-boosted trees",
        walk=("lightgbm", "lightgbm.*"),
        exclude=(*_TESTS, "lightgbm.dask", "lightgbm.plotting", "lightgbm.callback"),
        reviewed={
            "lightgbm.basic:Booster.__setstate__": (
                "6200b5cf6e19dab0",
                "hands the model text to LightGBM's C++ parser "
                "(LGBM_BoosterLoadModelFromString) and stores the fresh handle; a state "
                "without model text leaves _handle None or absent",
            ),
            "lightgbm.basic:Booster.__del__": (
                "622c14c0c6ab5a18",
                "frees _handle, which only __setstate__ sets (to a handle it created)",
            ),
            "lightgbm.basic:_c_str": ("ba750fff077c7143", "encodes a str for ctypes"),
        },
        samples="""
import numpy as np, lightgbm as lgb
X = np.random.RandomState(0).rand(50, 3); y = (X[:, 0] > .5).astype(int)
objects = [lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y),
    lgb.train({'verbose': -1}, lgb.Dataset(X, y), 2)]
""",
    ),
    Library(
        "xgboost-cpu",
        ("xgboost",),
        "gradient-boosted trees (the CPU wheel; same code as xgboost)",
        walk=("xgboost", "xgboost.*"),
        exclude=(
            *_TESTS,
            "xgboost.dask*",
            "xgboost.spark*",
            "xgboost.collective",
            "xgboost.tracker",
            "xgboost.federated",
            "xgboost.plotting",
            "xgboost.callback",
        ),
        reviewed={
            "xgboost.core:Booster.__setstate__": (
                "029b987a08ddebe6",
                "creates a booster and hands the raw model bytes to XGBoost's C++ "
                "deserializer (XGBoosterUnserializeFromBuffer); handle is None or fresh",
            ),
            "xgboost.core:Booster.__del__": (
                "665f341d0a32b177",
                "frees handle, which only __setstate__ sets (to a handle it created)",
            ),
        },
        samples="""
import numpy as np, xgboost as xgb
X = np.random.RandomState(0).rand(50, 3); y = (X[:, 0] > .5).astype(int)
objects = [xgb.XGBClassifier(n_estimators=2).fit(X, y)]
""",
    ),
    Library(
        "catboost",
        ("catboost",),
        "gradient-boosted trees",
        walk=("catboost", "catboost.core"),
        exclude=(*_TESTS, "catboost.widget*", "catboost.eval*", "catboost.datasets*"),
        samples="""
import numpy as np, catboost
X = np.random.RandomState(0).rand(50, 3); y = (X[:, 0] > .5).astype(int)
objects = [catboost.CatBoostClassifier(iterations=2, verbose=False,
                                      allow_writing_files=False).fit(X, y)]
""",
    ),
    Library(
        "statsmodels",
        ("statsmodels",),
        "fitted statistical models and their results",
        walk=(
            "statsmodels.regression.*",
            "statsmodels.discrete.*",
            "statsmodels.genmod.*",
            "statsmodels.tsa.*",
            "statsmodels.base.*",
            "statsmodels.robust.*",
            "statsmodels.nonparametric.*",
            "statsmodels.duration.*",
            "statsmodels.imputation.*",
            "statsmodels.multivariate.*",
        ),
        exclude=(
            *_TESTS,
            "statsmodels.sandbox*",
            "statsmodels.datasets*",
            "statsmodels.tools.testing",
            "statsmodels.tools.print_version",
            "statsmodels.graphics*",
            "statsmodels.tsa.x13",
            "statsmodels.iolib*",
        ),
    ),
    Library(
        "hmmlearn",
        ("hmmlearn",),
        "hidden Markov models",
        walk=("hmmlearn", "hmmlearn.*"),
        exclude=_TESTS,
    ),
    Library(
        "umap-learn",
        ("umap", "pynndescent"),
        "UMAP embeddings (their numba functions "
        "pickle through numba's own reducers, which stay off the list)",
        walk=("umap.umap_", "umap.parametric_umap", "umap.aligned_umap"),
    ),
    Library(
        "pynndescent",
        ("pynndescent",),
        "nearest-neighbour index inside UMAP models",
        walk=("pynndescent.pynndescent_", "pynndescent.rp_trees"),
    ),
    Library(
        "imbalanced-learn",
        ("imblearn",),
        "resampling pipelines",
        walk=("imblearn", "imblearn.*"),
        exclude=(*_TESTS, "imblearn.datasets*", "imblearn.keras*", "imblearn.tensorflow*"),
    ),
    Library(
        "category_encoders",
        ("category_encoders",),
        "categorical encoders in sklearn pipelines",
        walk=("category_encoders", "category_encoders.*"),
        exclude=_TESTS,
    ),
    Library(
        "torch",
        ("torch",),
        "whole-module pickles (torch.save(model)), optimizers, schedulers, distributions",
        walk=(
            "torch.nn",
            "torch.nn.modules.*",
            "torch.nn.utils",
            "torch.nn.utils.*",
            "torch.nn.parameter",
            "torch.nn.init",
            "torch.nn.quantized*",
            "torch.nn.qat*",
            "torch.nn.intrinsic*",
            "torch.ao.nn.*",
            "torch.optim",
            "torch.optim.*",
            "torch.distributions",
            "torch.distributions.*",
            "torch.torch_version",
            "torch.utils.hooks",
            "torch.amp.grad_scaler",
            "torch.cuda.amp.grad_scaler",
        ),
        exclude=(*_TESTS, "torch.nn.parallel*", "torch.nn.attention*", "torch.utils.data*"),
        classes=("torch:Size",),
        samples="""
import torch, torch.nn as nn
m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2),
    nn.LSTM(2, 2), nn.TransformerEncoderLayer(4, 2), nn.Embedding(3, 2),
    nn.MultiheadAttention(4, 2))
opt = torch.optim.AdamW(m.parameters())
import io, zipfile
def saved(obj):
    buf = io.BytesIO(); torch.save(obj, buf)
    with zipfile.ZipFile(buf) as z:
        return [z.read(n) for n in z.namelist() if n.endswith('data.pkl')]
objects = []
pickles = [p for obj in (m, opt.state_dict(), torch.optim.lr_scheduler.StepLR(opt, 1).state_dict(),
    {'version': torch.torch_version.TorchVersion('2.1.0'), 'size': torch.Size([1, 2])},
    torch.distributions.Normal(torch.zeros(1), torch.ones(1)), opt,
    nn.utils.weight_norm(nn.Linear(2, 2)), nn.utils.spectral_norm(nn.Linear(2, 2)))
    for p in saved(obj)]
""",
    ),
    Library(
        "torchvision",
        ("torchvision",),
        "vision models and transforms pickled whole",
        walk=(
            "torchvision.models",
            "torchvision.models.*",
            "torchvision.ops",
            "torchvision.ops.*",
            "torchvision.transforms",
            "torchvision.transforms.*",
        ),
        exclude=(*_TESTS, "torchvision.models._api", "torchvision.io*", "torchvision.datasets*"),
        shims=(SHIM_TORCH_EXTENSIONS,),
    ),
    Library(
        "transformers",
        ("transformers",),
        "configurations, training arguments and the tokenizer base classes pickled into "
        "checkpoints (per-model tokenizer classes are left out: checkpoints store tokenizers "
        "as JSON, and their __init__ reads vocabulary files)",
        walk=(
            "transformers.configuration_utils",
            "transformers.models.*.configuration_*",
            "transformers.tokenization_utils*",
            "transformers.generation.configuration_utils",
            "transformers.training_args*",
            "transformers.trainer_utils",
            "transformers.trainer_pt_utils",
            "transformers.debug_utils",
            "transformers.utils.quantization_config",
            "transformers.feature_extraction_utils",
        ),
        exclude=(*_TESTS,),
        shims=(SHIM_TORCH_EXTENSIONS,),
    ),
    Library(
        "tokenizers",
        ("tokenizers",),
        "fast tokenizers (Rust; their pickles are JSON)",
        walk=("tokenizers", "tokenizers.*"),
        exclude=(*_TESTS, "tokenizers.tools*"),
    ),
    Library(
        "sentencepiece",
        ("sentencepiece",),
        "SentencePiece processors (serialized proto)",
        walk=("sentencepiece",),
    ),
    Library(
        "omegaconf",
        ("omegaconf",),
        "config containers in Lightning/Hydra checkpoints (hyper_parameters)",
        walk=(
            "omegaconf",
            "omegaconf.base",
            "omegaconf.basecontainer",
            "omegaconf.dictconfig",
            "omegaconf.listconfig",
            "omegaconf.nodes",
            "omegaconf.errors",
            "omegaconf.omegaconf",
        ),
        samples="""
from omegaconf import OmegaConf
objects = [OmegaConf.create({'a': 1, 'b': [1, 'x', None], 'c': {'d': 1.5, 'e': True}})]
""",
    ),
    Library(
        "lightning",
        ("lightning", "pytorch_lightning", "lightning_fabric"),
        "Lightning checkpoints' hyper-parameter containers",
        walk=(
            "lightning.fabric.utilities.data",
            "lightning.pytorch.utilities.parsing",
            "lightning.pytorch.callbacks.*",
            "lightning.pytorch.trainer.states",
        ),
        shims=(SHIM_TORCH_EXTENSIONS,),
    ),
    Library(
        "pytorch-lightning",
        ("pytorch_lightning", "lightning_fabric", "lightning"),
        "Lightning checkpoints (old package name)",
        walk=(
            "pytorch_lightning.utilities.parsing",
            "pytorch_lightning.callbacks.*",
            "pytorch_lightning.trainer.states",
        ),
        shims=(SHIM_TORCH_EXTENSIONS,),
    ),
    Library(
        "pyannote.audio",
        ("pyannote",),
        "pyannote segmentation checkpoints (whisperx ships one): task specifications, enums",
        walk=("pyannote.audio.core.task", "pyannote.audio.core.model", "pyannote.core.*"),
        shims=(SHIM_TORCH_EXTENSIONS,),
    ),
    Library(
        "madmom",
        ("madmom",),
        "madmom's shipped models: neural networks, layers, CRFs, GMMs, HMMs",
        walk=("madmom.ml", "madmom.ml.*"),
        functions={
            f"madmom.ml.nn.activations:{n}": "a layer's activation function, stored as an attribute"
            for n in ("linear", "tanh", "sigmoid", "relu", "elu", "softmax")
        },
        shims=(SHIM_OLD_PYTHON,),
    ),
    Library(
        "ctparse",
        ("ctparse",),
        "ctparse's shipped model (its own vectorizer and classifier)",
        walk=("ctparse", "ctparse.*"),
        exclude=_TESTS,
    ),
)


# -- the worker: one library in its own process --------------------------------------


def _modules(lib: Library) -> Iterator[types.ModuleType]:
    """Import and yield every module of ``lib`` the spec walks."""

    def wanted(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in lib.walk) and not any(
            fnmatch.fnmatchcase(name, p) for p in lib.exclude
        )

    def may_contain(name: str) -> bool:
        """Whether ``name`` or a module under it can match a walk pattern."""
        if any(fnmatch.fnmatchcase(name, p) for p in lib.exclude):
            return False
        for pattern in lib.walk:
            literal = pattern.split("*", 1)[0]
            if fnmatch.fnmatchcase(name, pattern) or literal.startswith(name + "."):
                return True
            if "*" in pattern and name.startswith(literal.rstrip(".")):
                return True
        return False

    seen: set[str] = set()
    for top in lib.packages:
        todo = [top]
        while todo:
            name = todo.pop()
            if name in seen or not may_contain(name):
                continue
            seen.add(name)
            try:
                module = importlib.import_module(name)
            except BaseException as exc:
                if wanted(name) or name == top:
                    print(f"  cannot import {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            if wanted(name):
                yield module
            path = getattr(module, "__path__", None)
            if path is not None:
                for info in pkgutil.iter_modules(path, name + "."):
                    todo.append(info.name)


def _assigned_names(module: types.ModuleType) -> set[str]:
    """Names a module's source binds at top level by assignment (``Vocab = CompatVocab``)
    or import (``from .keyedvectors import Vocab``): names a library means to export,
    as opposed to a loop variable left in its namespace."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return set()
    names = {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def _resolve(spec: str) -> object:
    module, _, name = spec.partition(":")
    obj: object = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _canonical(cls: type) -> tuple[str, str] | None:
    """Where pickle finds the class: ``__module__`` + ``__qualname__``, if that resolves."""
    module, qualname = getattr(cls, "__module__", None), getattr(cls, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    try:
        if _resolve(f"{module}:{qualname}") is cls:
            return module, qualname
    except Exception:
        return None
    return None


def _globals_in(data: bytes) -> set[tuple[str, str]]:
    """The globals a pickle names, read from its opcodes (nothing is loaded)."""
    found: set[tuple[str, str]] = set()
    pushed: list[object] = []
    memo: dict[int, object] = {}
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            module, name = str(arg).split(" ", 1)
            found.add((module, name))
        elif op.name == "STACK_GLOBAL" and len(pushed) >= 2:
            found.add((str(pushed[-2]), str(pushed[-1])))
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(arg)] = pushed[-1] if pushed else None  # type: ignore[arg-type]
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(int(arg)))  # type: ignore[arg-type]
        elif isinstance(arg, str):
            pushed.append(arg)
        else:
            pushed.append(None)
    return found


def _observed_globals(
    objects: list[object], pickles: list[bytes]
) -> tuple[set[tuple[str, str]], list[str]]:
    """The globals pickles of ``objects`` (and the ready-made ``pickles``) name: our
    own pickles of objects the sample code just built with the library."""
    seen: set[tuple[str, str]] = set()
    errors: list[str] = []
    for data in pickles:
        seen |= _globals_in(data)
    for obj in objects:
        for protocol in (0, 2, 4, 5):
            try:
                data = pickle.dumps(obj, protocol=protocol)
            except Exception:  # noqa: S112 - protocols 0-1 cannot pickle every object
                continue
            seen |= _globals_in(data)
    return seen, errors


def run_worker(name: str) -> dict[str, Any]:
    # the denylist and the command runners, not classify_global: that would consult
    # the trust list this run is writing
    from openward.scanning.pickle_policy import _primitive_reason
    from openward.scanning.trust_checks import check_class, check_function, source_digest

    lib = next(lib for lib in LIBRARIES if lib.dist == name)
    warnings.simplefilter("ignore")
    for shim in lib.shims:
        exec(shim, {})  # noqa: S102 - the spec's own import workarounds
    out: dict[str, Any] = {
        "dist": lib.dist,
        "classes": [],
        "functions": [],
        "constants": [],
        "excluded": [],
        "observed": [],
        "errors": [],
    }
    if lib.dist != "python":
        try:
            out["version"] = importlib.metadata.version(lib.dist)
        except importlib.metadata.PackageNotFoundError:
            out["missing"] = True
            return out
    tops = frozenset(lib.packages)
    reviewed = {k.replace(":", "."): v[0] for k, v in lib.reviewed.items()}

    # classes: walked modules, then the explicit ones
    found: dict[int, tuple[type, list[tuple[str, str]]]] = {}
    for module in _modules(lib):
        exported = set(getattr(module, "__all__", ()) or ()) | _assigned_names(module)
        for attr, value in list(vars(module).items()):
            if not isinstance(value, type) or attr.startswith("__"):
                continue
            if attr != value.__name__ and attr not in exported:
                continue  # a leftover loop variable, not a name anyone pickles
            if (
                value.__module__.split(".")[0] not in tops
                and value.__module__ not in lib.alias_modules
            ):
                continue
            found.setdefault(id(value), (value, []))[1].append((module.__name__, attr))
    for spec in lib.classes:
        value = _resolve(spec)
        module, _, attr = spec.partition(":")
        if isinstance(value, type):
            found.setdefault(id(value), (value, []))[1].append((module, attr))

    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for cls, places in found.values():
        canonical = _canonical(cls) or places[0]
        module, name = canonical
        aliases = sorted({f"{m}:{n}" for m, n in places if (m, n) != canonical})
        denied = _primitive_reason(module, name)
        if denied is not None:
            out["excluded"].append(
                {
                    "module": module,
                    "name": name,
                    "library": lib.dist,
                    "reason": f"on the denylist: {denied}",
                }
            )
            continue
        result = check_class(cls, library_tops=tops, reviewed=reviewed)
        if not result.trusted:
            out["excluded"].append(
                {
                    "module": module,
                    "name": name,
                    "library": lib.dist,
                    "reason": "; ".join(result.problems[:3]),
                }
            )
            continue
        entry: dict[str, Any] = {
            "module": module,
            "name": name,
            "library": lib.dist,
            "construct": list(result.construct),
            "new": result.new,
            "setstate": result.setstate,
            "init_checked": result.init_checked,
        }
        if result.unsafe_hooks:
            entry["unsafe_hooks"] = sorted(h for h, _ in result.unsafe_hooks)
        if result.reviewed:
            entry["reviewed"] = list(result.reviewed)
        if aliases:
            entry["aliases"] = aliases
        entries[canonical] = entry

    out["classes"] = sorted(entries.values(), key=lambda e: (e["module"], e["name"]))

    # historical module names: every class of the current module, under the old name
    for old, (current, why) in lib.alias_modules.items():
        for module, name in entries:
            if module == current and "." not in name:
                out.setdefault("historical", []).append(
                    {
                        "module": old,
                        "name": name,
                        "library": lib.dist,
                        "stands_for": f"{current}:{name}",
                        "note": why,
                    }
                )

    # curated functions and constants
    for spec, why in lib.functions.items():
        module, _, name = spec.partition(":")
        try:
            func = _resolve(spec)
        except Exception as exc:
            out["errors"].append(f"function {spec}: {type(exc).__name__}: {exc}")
            continue
        if not why:
            out["errors"].append(f"function {spec}: no reason given")
            continue
        result = check_function(func, library_tops=tops | {"numpy"})
        if not result.trusted:
            out["excluded"].append(
                {
                    "module": module,
                    "name": name,
                    "library": lib.dist,
                    "reason": "; ".join(result.problems[:3]) or "not a function",
                }
            )
            continue
        entry = {
            "module": module,
            "name": name,
            "library": lib.dist,
            "reason": why,
            "native": result.native,
        }
        if result.calls_arguments:
            entry["calls_arguments"] = True
        canonical = (getattr(func, "__module__", None), getattr(func, "__qualname__", None))
        if canonical != (module, name) and all(isinstance(x, str) for x in canonical):
            with contextlib.suppress(Exception):
                if _resolve(f"{canonical[0]}:{canonical[1]}") is func:
                    entry["aliases"] = [f"{canonical[0]}:{canonical[1]}"]
        out["functions"].append(entry)
    for spec, why in lib.constructors.items():
        module, _, name = spec.partition(":")
        try:
            func = _resolve(spec)
        except Exception as exc:
            out["errors"].append(f"constructor {spec}: {type(exc).__name__}: {exc}")
            continue
        result = check_function(func, library_tops=tops)
        if not result.is_function:
            out["errors"].append(f"constructor {spec}: not a function")
            continue
        out["functions"].append(
            {
                "module": module,
                "name": name,
                "library": lib.dist,
                "reason": why,
                "native": result.native,
                "calls_arguments": True,
            }
        )
    for spec, why in lib.constants.items():
        module, _, name = spec.partition(":")
        try:
            _resolve(spec)
        except Exception as exc:
            out["errors"].append(f"constant {spec}: {exc}")
            continue
        out["constants"].append(
            {"module": module, "name": name, "library": lib.dist, "reason": why}
        )

    # historical names: the current class's checks stand for them
    for old, (current, why) in lib.historical.items():
        module, _, name = old.partition(":")
        cur_module, _, cur_name = current.partition(":")
        with contextlib.suppress(Exception):
            _resolve(old)
            out["errors"].append(f"historical {old} resolves in this release: walk it instead")
        out.setdefault("historical", []).append(
            {
                "module": module,
                "name": name,
                "library": lib.dist,
                "stands_for": current,
                "note": why,
            }
        )
        if (cur_module, cur_name) not in entries and not cur_module.startswith("joblib"):
            out["errors"].append(f"historical {old}: {current} is not a trusted class")

    # reviews that no longer match
    for qualname, (digest, _why) in lib.reviewed.items():
        module, _, attr = qualname.partition(":")
        try:
            now = source_digest(_resolve(f"{module}:{attr}"))
        except Exception as exc:
            now = f"unresolvable ({exc})"
        if now != digest:
            out["errors"].append(f"review of {qualname} is stale: source digest {now}")

    # sample objects: every global their pickles name must be covered
    if lib.samples:
        scope: dict[str, Any] = {}
        try:
            exec(lib.samples, scope)  # noqa: S102 - the spec's own sample code
            observed, errors = _observed_globals(
                list(scope.get("objects", [])), list(scope.get("pickles", []))
            )
            out["observed"] = sorted(f"{m}:{n}" for m, n in observed)
            out["errors"] += errors
        except Exception as exc:
            out["errors"].append(f"samples: {type(exc).__name__}: {exc}")
    return out


# -- the parent: merge, verify, write ----------------------------------------------


def _version_string(previous: dict[str, Any] | None) -> str:
    today = datetime.date.today()
    base = f"{today.year}.{today.month:02d}"
    n = 1
    if previous and str(previous.get("version", "")).startswith(base + "."):
        n = int(str(previous["version"]).rsplit(".", 1)[1]) + 1
    return f"{base}.{n}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", help="regenerate these distributions only")
    parser.add_argument("--drop-missing", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.result.write_text(json.dumps(run_worker(args.worker)))
        return

    previous = json.loads(args.out.read_text()) if args.out.exists() else None
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for lib in LIBRARIES:
        if args.only and lib.dist not in args.only:
            continue
        print(f"{lib.dist} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            result_path = Path(tmp) / "result.json"
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", lib.dist, "--result", str(result_path)],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
                check=False,
            )
            if proc.returncode != 0 or not result_path.exists():
                print(proc.stderr[-3000:], file=sys.stderr)
                failed.append(lib.dist)
                continue
            result = json.loads(result_path.read_text())
        sys.stderr.write(
            "".join(f"  {line}\n" for line in proc.stderr.splitlines() if line.startswith("  "))
        )
        if result.get("missing"):
            print("  not installed", file=sys.stderr)
            continue
        results[lib.dist] = result
        print(
            f"  {result.get('version', '')}: {len(result['classes'])} classes, "
            f"{len(result['functions'])} functions, {len(result['excluded'])} excluded",
            file=sys.stderr,
        )
        for error in result["errors"]:
            print(f"  ! {error}", file=sys.stderr)

    if failed:
        sys.exit(f"generation failed for {', '.join(failed)}; {args.out} left unchanged")

    # keep what could not be regenerated here
    kept: dict[str, str] = {}
    if previous and not args.drop_missing:
        for dist, version in previous["libraries"].items():
            if dist not in results:
                kept[dist] = version

    def merged(section: str) -> list[dict[str, Any]]:
        rows = [row for r in results.values() for row in r.get(section, [])]
        if previous:
            rows += [row for row in previous.get(section, []) if row["library"] in kept]
        unique = {(row["module"], row["name"]): row for row in rows}
        return sorted(unique.values(), key=lambda r: (r["module"], r["name"]))

    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "version": _version_string(previous),
        "generated": datetime.date.today().isoformat(),
        "generator": "scripts/build_trust_list.py",
        "about": "Classes and functions of well-known ML libraries that a pickle may "
        "name, each checked against the installed library's source by "
        "openward.scanning.trust_checks (see docs/scan.md, 'The pickle policy').",
        "python": sys.version.split()[0],
        "libraries": dict(
            sorted(
                {
                    **{d: r.get("version", sys.version.split()[0]) for d, r in results.items()},
                    **kept,
                }.items()
            )
        ),
        "classes": merged("classes"),
        "functions": merged("functions"),
        "constants": merged("constants"),
        "historical": merged("historical"),
        "excluded": merged("excluded"),
    }

    # every global a sample pickle named must be covered
    from openward.scanning.pickle_policy import SAFE_GLOBALS, normalize_global

    covered = {
        (e["module"], e["name"])
        for s in ("classes", "functions", "constants", "historical")
        for e in doc[s]
    }
    for s in ("classes", "functions"):
        for e in doc[s]:
            covered |= {tuple(a.split(":", 1)) for a in e.get("aliases", [])}  # type: ignore[misc]
    excluded = {(e["module"], e["name"]): e["reason"] for e in doc["excluded"]}
    for dist, result in results.items():
        for spec in result["observed"]:
            module, name = normalize_global(*spec.split(":", 1))
            if (module, name) in covered or (module, name) in SAFE_GLOBALS:
                continue
            why = excluded.get((module, name), "not on the list")
            print(
                f"  ! {dist}: a sample pickle names {module}.{name}: {why[:160]}", file=sys.stderr
            )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        f.write("{\n")
        keys = list(doc)
        for i, key in enumerate(keys):
            value = doc[key]
            end = ",\n" if i < len(keys) - 1 else "\n"
            if isinstance(value, list):
                f.write(f' "{key}": [\n')
                for j, row in enumerate(value):
                    line = json.dumps(row, separators=(",", ":"))
                    f.write(line + (",\n" if j < len(value) - 1 else "\n"))
                f.write(" ]" + end)
            else:
                f.write(f" {json.dumps(key)}: {json.dumps(value)}{end}")
        f.write("}\n")
    print(
        f"{len(doc['classes'])} classes, {len(doc['functions'])} functions, "
        f"{len(doc['excluded'])} excluded -> {args.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
