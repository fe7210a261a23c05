"""Run configuration: frozen dataclasses, read from JSON, YAML or TOML at the edge.

Example (YAML)::

    encoder: {name: mobilenet_v2, image_size: 128, weights: imagenet}
    model: {factors: 64, loss: softmax, epochs: 40}
    split: {warm: temporal, test_share: 0.2, cold_share: 0.2, seed: 0}
    ks: [10, 20]
    positive_threshold: 4.0
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from recsys.data.dataset import DEFAULT_POSITIVE_THRESHOLD
from recsys.evaluation.splits import NEW_USER_HISTORY
from recsys.vision.config import DEFAULT_ENCODER, ENCODERS, EncoderConfig
from recsys.vision.store import DEFAULT_STORE


def hybrid_defaults() -> dict:
    """The hybrid's hyperparameters and their defaults (loads TensorFlow, so only when needed)."""
    from recsys.models.hybrid import HybridRecommender

    return HybridRecommender().get_params()


@dataclass(frozen=True)
class SplitConfig:
    """How ``evaluate`` splits: ``kind: items`` (a share of items held out cold,
    drawn at random or, with ``cold_draw: newest``, the items first seen last; each
    user's latest share warm) or ``kind: cutoff`` (``at: 2020-04-01``
    or ``last: 8w``: the future is the test, new items the cold ones, and users
    first seen after it keep their first ``new_user_history`` positives as the
    history they are folded in from)."""

    kind: str = "items"
    warm: str = "temporal"
    test_share: float = 0.2
    cold_share: float = 0.2
    seed: int = 0
    at: str | None = None
    last: str | None = None
    cold_draw: str = "random"
    new_user_history: int = NEW_USER_HISTORY

    def __post_init__(self):  # the choices are checked by make_split, the first step of an evaluation
        for name in ("test_share", "cold_share"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
                raise ValueError(f"config [split] `{name}` must be a number in [0, 1), got {value!r}")
        value = self.new_user_history
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"config [split] `new_user_history` must be a whole number >= 1, got {value!r}")


@dataclass(frozen=True)
class RunConfig:
    encoder: EncoderConfig = DEFAULT_ENCODER
    model: dict = field(default_factory=dict)
    split: SplitConfig = field(default_factory=SplitConfig)
    ks: tuple = (10, 20)
    positive_threshold: float = DEFAULT_POSITIVE_THRESHOLD
    store: str = str(DEFAULT_STORE)

    def __post_init__(self):
        if self.model:
            check_model(self.model, "config")
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"config `ks` must be a non-empty list of integers >= 1, got {list(self.ks)}")

    def hybrid(self, **overrides):
        from recsys.models.hybrid import HybridRecommender

        return HybridRecommender(**(self.model | overrides))

    def to_dict(self) -> dict:
        return {"encoder": asdict(self.encoder), "model": {**hybrid_defaults(), **self.model},
                "split": asdict(self.split), "ks": list(self.ks), "positive_threshold": self.positive_threshold,
                "store": self.store}


def _read(path: Path) -> dict:
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    if path.suffix == ".toml":
        import tomllib  # Python 3.11+

        return tomllib.loads(text)
    raise ValueError(f"{path}: config must be .json, .yaml/.yml or .toml, got '{path.suffix}'")


def _checked(values, cls, source: str, where: str) -> dict:
    """``values`` as a mapping holding only field names of ``cls``, each of its field's
    type; else a clear error."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: {where} must be a mapping, got {type(values).__name__}")
    allowed = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown} in {where}; expected some of {sorted(allowed)}")
    return {key: check_type(value, allowed[key], f"{source}: {where} `{key}`") for key, value in values.items()}


#: the annotations of config fields -> the Python values a file may give them, and their names
TYPES = {"int": ((int,), "an integer"), "float": ((int, float), "a number"), "str": ((str,), "a string"),
         "bool": ((bool,), "true or false"), "None": ((type(None),), "null"), "tuple": ((list, tuple), "a list"),
         "dict": ((dict, type(None)), "a mapping"), "EncoderConfig": ((dict, type(None)), "a mapping"),
         "SplitConfig": ((dict, type(None)), "a mapping")}
#: the hybrid's settings that must be > 0, or lie in [0, 1); the others must be >= 0
POSITIVE = {"factors", "epochs", "batch_size", "learning_rate", "image_hidden", "patience", "eval_k"}
SHARES = {"id_dropout", "image_dropout", "validation_share"}


def check_type(value, annotation: str, where: str):
    """``value`` as the annotated type (``"int | None"``...): a bool is no number, and a
    number YAML 1.1 reads as a string (``1e-3``) is taken as the number. Returns it."""
    names = [t.strip() for t in str(annotation).split("|")]
    if "float" in names and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    kinds = tuple(kind for name in names for kind in TYPES.get(name, ((object,), ""))[0])
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        wanted = " or ".join(TYPES.get(name, ((), name))[1] for name in names)
        raise ValueError(f"{where} must be {wanted}, got {value!r}")
    return value


def check_model(values, source: str) -> dict:
    """The ``model`` section: known keys, each of its default's type and in range."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{source}: [model] must be a mapping, got {type(values).__name__}")
    defaults = hybrid_defaults()
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ValueError(f"{source}: [model]: unknown key(s) {unknown}; expected some of {list(defaults)}")
    checked = {}
    for key, value in values.items():
        where = f"{source}: [model] `{key}`"
        checked[key] = value = check_type(value, type(defaults[key]).__name__, where)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low_ok = value > 0 if key in POSITIVE else value >= 0
            if not low_ok or (key in SHARES and value >= 1):
                rule = "> 0" if key in POSITIVE else "in [0, 1)" if key in SHARES else ">= 0"
                raise ValueError(f"{where} must be {rule}, got {value!r}")
    return checked


def load_config(path: str | Path | None, **defaults) -> RunConfig:
    """A :class:`RunConfig` from a file (``None``: the defaults), with ``defaults``
    used for top-level keys the file leaves out."""
    if path is None:
        return RunConfig(**defaults)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    try:
        raw = _read(path)
    except Exception as exc:  # json, yaml and toml each raise their own parse errors
        raise ValueError(f"{path}: cannot be parsed: {exc}") from None
    raw = _checked(raw, RunConfig, str(path), "the top level")
    values = defaults | {k: v for k, v in raw.items() if k not in ("encoder", "split")}
    if "model" in raw:
        values["model"] = check_model(raw["model"], str(path))
    if "ks" in values:
        for k in values["ks"]:
            check_type(k, "int", f"{path}: every `ks` entry")
        values["ks"] = tuple(values["ks"])
    encoder = defaults.get("encoder", DEFAULT_ENCODER)
    if "encoder" in raw:
        encoder = EncoderConfig(**(asdict(encoder) | _checked(raw["encoder"] or {}, EncoderConfig, str(path),
                                                               "[encoder]")))
    split = SplitConfig(**_checked(raw.get("split") or {}, SplitConfig, str(path), "[split]"))
    return RunConfig(encoder=encoder, split=split, **{k: v for k, v in values.items() if k not in ("encoder", "split")})


def add_encoder_arguments(parser):
    group = parser.add_argument_group("image encoder")
    group.add_argument("--encoder", choices=ENCODERS, default=None,
                       help="CNN turning images into embeddings (default mobilenet_v2)")
    group.add_argument("--weights", default=None,
                       help="'imagenet' (downloads once), a local .h5 file, or 'none' for random init "
                            "(default imagenet for backbones)")
    group.add_argument("--image-size", type=int, default=None, help="square input side in pixels (default 128)")
    group.add_argument("--embedding-dim", type=int, default=None,
                       help="projection head size; default keeps the pooled CNN features")


def encoder_config(args, base: EncoderConfig | None = None) -> EncoderConfig:
    """Command-line options over a base config (from a config file, or the defaults)."""
    base = base or DEFAULT_ENCODER
    changes = {}
    if args.encoder is not None:
        changes["name"] = args.encoder
    if args.weights is not None:
        changes["weights"] = None if args.weights.lower() == "none" else args.weights
    if args.image_size is not None:
        changes["image_size"] = args.image_size
    if args.embedding_dim is not None:
        changes["embedding_dim"] = args.embedding_dim
    return EncoderConfig(**(vars(base) | changes))


def run_config(args) -> RunConfig:
    """The ``--config`` file (or the defaults) with the encoder options of the command line over it."""
    config = load_config(args.config)
    return dataclasses.replace(config, encoder=encoder_config(args, config.encoder))
