"""`securepix classify`, `evaluate` and `train-domain-head`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

from core.domains import ALLOW
from core.errors import EXIT_OK, ErrorCode, SecurePixError, UsageError

from .config import resnet50_weights


def register(commands: Any) -> None:
    classify = commands.add_parser("classify", help="predict the content domain of images")
    classify.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    classify.add_argument("--json", action="store_true", help="one JSON object per file")
    _model_options(classify)
    classify.set_defaults(handler=run_classify)

    evaluate = commands.add_parser("evaluate", help="accuracy on a folder per domain")
    evaluate.add_argument("dataset", type=Path, metavar="DIR")
    evaluate.add_argument(
        "--cross-validate",
        type=int,
        default=0,
        metavar="K",
        help="train a head on K-1 folds and test on the rest (grouped by source), K times",
    )
    evaluate.add_argument(
        "--train-also",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="with --cross-validate: add this folder per domain to every fold's training set",
    )
    evaluate.add_argument("--json", action="store_true")
    _model_options(evaluate)
    evaluate.set_defaults(handler=run_evaluate)

    train = commands.add_parser("train-domain-head", help="train the domain head on a folder per domain")
    train.add_argument("datasets", nargs="+", type=Path, metavar="DATASET_DIR")
    train.add_argument("--output", type=Path, help="where to write the head (default: the shipped head of the model)")
    _model_options(train)
    train.set_defaults(handler=run_train)

    serve = commands.add_parser(
        "model-process",
        help="hold the models for the workers of this machine (SECUREPIX_MODEL_PROCESS; docs/DEPLOY.md)",
    )
    serve.add_argument(
        "--socket", type=Path, default=None, help="the Unix socket to serve on (default: SECUREPIX_MODEL_PROCESS)"
    )
    _model_option(serve)
    serve.add_argument(
        "--replicas",
        type=int,
        default=min(os.cpu_count() or 1, 8),
        help="sets of models, each seeing one image at a time (default: one per core, at most 8; 1 to 16)",
    )
    serve.set_defaults(handler=run_model_process)


def _model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, help="auto, resnet50 or efficientnet-lite0 (default: the SECUREPIX_CLASSIFIER setting)"
    )


def _model_options(parser: argparse.ArgumentParser) -> None:
    _model_option(parser)
    parser.add_argument("--head", type=Path, help="a domain head JSON file (default: the shipped one)")
    parser.add_argument("--no-ocr", action="store_true", help="skip OCR of text pages")


def _classifier(args: argparse.Namespace, with_head: bool = True) -> Any:
    # The engine (and so TensorFlow, seconds to import) is imported by the
    # commands that classify only: `securepix encrypt` starts at once.
    from classification.engine.classifier import DomainClassifier
    from classification.engine.head import DomainHead

    head = None
    if with_head and args.head:
        try:
            head = DomainHead.from_json(args.head.read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"cannot read the domain head {args.head}: {exc}") from exc
    return DomainClassifier(
        args.model or settings.SECUREPIX_CLASSIFIER,
        resnet50_weights=resnet50_weights(),
        head=head,
        use_ocr=not args.no_ocr,
    )


def run_classify(args: argparse.Namespace) -> int:
    classifier = _classifier(args)
    worst = EXIT_OK
    for source in args.inputs:
        try:
            result = classifier.classify(source.read_bytes(), settings.SECUREPIX_MAX_PIXELS).as_dict()
        except (SecurePixError, OSError) as exc:
            code = exc.exit_code if isinstance(exc, SecurePixError) else ErrorCode.BAD_INPUT.exit_code
            worst = max(worst, code)
            message = exc.message if isinstance(exc, SecurePixError) else f"cannot read {source}: {exc.strerror}"
            if args.json:
                print(json.dumps({"input": str(source), "status": "error", "error": {"message": message}}))
            else:
                print(f"securepix: {source}: {message}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({"input": str(source), "status": "ok", **result}), flush=True)
        else:
            reasons = "; ".join(result["reasons"]) or "no specific evidence"
            print(f"{source}: {result['domain']} ({result['confidence']:.0%}, {result['model']}) - {reasons}")
    return worst


def run_evaluate(args: argparse.Namespace) -> int:
    from classification.engine import evaluation

    classifier = _classifier(args)
    examples = _examples(classifier, args.dataset)
    also_train = [e for extra in args.train_also for e in _examples(classifier, extra)]
    results = evaluation.predictions(classifier, examples, args.cross_validate, also_train)
    result = evaluation.report(examples, results)
    result["model"] = classifier.model
    result["policy"] = policy_figures(examples, results)
    if args.json:
        print(json.dumps(result))
    else:
        print(evaluation.render_table(result))
        print(render_policy_figures(result["policy"]))
    return EXIT_OK


UNDER_DECLARED = ("none", "personal")


def policy_figures(examples: list[Any], results: list[Any]) -> dict[str, Any]:
    """What the configured mismatch policy does with these predictions: the share
    of images declared as what they are (or their second acceptable domain)
    that still need an acknowledgment, and the share of medical images that pass
    without one when declared `none` or `personal`."""
    from .services import decide

    def passes(declared: str, result: Any) -> bool:
        return decide(declared, result).action == ALLOW  # as the platform decides

    needless = [
        e.path.name
        for e, r in zip(examples, results, strict=True)
        if not passes(e.domain, r) and not (e.also and passes(e.also, r))
    ]
    medical = [(e, r) for e, r in zip(examples, results, strict=True) if e.domain == "medical"]
    figures: dict[str, Any] = {
        "correct_declaration_acknowledged": len(needless) / len(examples) if examples else 0.0,
        "correct_declaration_acknowledged_files": needless,
    }
    for declared in UNDER_DECLARED:
        passing = [e.path.name for e, r in medical if passes(declared, r)]
        figures[f"medical_declared_{declared}_passing"] = len(passing) / len(medical) if medical else None
        figures[f"medical_declared_{declared}_passing_files"] = passing
    return figures


def render_policy_figures(figures: dict[str, Any]) -> str:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    lines = [
        "mismatch policy (as configured): correctly declared, yet asked to acknowledge "
        + share(figures["correct_declaration_acknowledged"])
    ]
    lines += [
        f"medical declared {declared}, passing without an acknowledgment "
        + share(figures[f"medical_declared_{declared}_passing"])
        for declared in UNDER_DECLARED
    ]
    return "\n".join(lines)


def _examples(classifier: Any, dataset: Path) -> Any:
    from classification.engine import evaluation

    try:
        return evaluation.read_examples(classifier, dataset)
    except ValueError as exc:  # not a folder per domain
        raise UsageError(str(exc)) from exc


def run_train(args: argparse.Namespace) -> int:
    from classification.engine import evaluation, head

    classifier = _classifier(args, with_head=False)
    examples = [e for dataset in args.datasets for e in _examples(classifier, dataset)]
    trained = evaluation.train_head(examples, classifier.model)
    output = args.output or head.default_path(classifier.model)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(trained.to_json())
    print(json.dumps({"output": str(output), "sha256": trained.digest, **trained.manifest}))
    return EXIT_OK


def run_model_process(args: argparse.Namespace) -> int:
    """Load and warm the backbone and the face detector, then answer the
    workers until TERM or Ctrl-C (the socket file goes with the process)."""
    import signal

    from classification.engine.model_process import clear, replicas, serve

    from .config import model_process_key

    socket = args.socket or (Path(settings.SECUREPIX_MODEL_PROCESS) if settings.SECUREPIX_MODEL_PROCESS else None)
    if socket is None:
        raise UsageError("say where to serve: --socket PATH or SECUREPIX_MODEL_PROCESS")
    if not socket.parent.is_dir():
        raise UsageError(f"{socket.parent} is not a folder")
    if not 1 <= args.replicas <= 16:
        raise UsageError("--replicas must be from 1 to 16")
    clear(socket, model_process_key())  # before the models load: a live model process there is an error now
    visions = replicas(args.replicas, args.model or settings.SECUREPIX_CLASSIFIER, resnet50_weights())
    name = visions[0].name
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_OK))
    try:
        serve(
            socket,
            model_process_key(),
            visions,
            on_ready=lambda: print(f"model process {name} ready on {socket}", flush=True),
        )
    except OSError as exc:
        raise SecurePixError(f"cannot serve on {socket}: {exc.strerror or exc}") from exc
    return EXIT_OK
