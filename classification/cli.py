"""`securepix classify`, `evaluate` and `train-domain-head`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from cipher.engine.errors import SecurePixError

EXIT_BAD_INPUT = 2


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
    evaluate.add_argument("--json", action="store_true")
    _model_options(evaluate)
    evaluate.set_defaults(handler=run_evaluate)

    train = commands.add_parser("train-domain-head", help="train the domain head on a folder per domain")
    train.add_argument("dataset", type=Path, metavar="DATASET_DIR")
    train.add_argument("--output", type=Path, help="where to write the head (default: the shipped head of the model)")
    _model_options(train)
    train.set_defaults(handler=run_train)


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, help="auto, resnet50 or efficientnet-lite0 (default: $SECUREPIX_CLASSIFIER or auto)"
    )
    parser.add_argument("--head", type=Path, help="a domain head JSON file (default: the shipped one)")
    parser.add_argument("--no-ocr", action="store_true", help="skip OCR of text pages")


def _classifier(args: argparse.Namespace, with_head: bool = True) -> Any:
    from classification.engine.classifier import DomainClassifier
    from classification.engine.head import DomainHead

    model = args.model or os.environ.get("SECUREPIX_CLASSIFIER", "auto")
    head = DomainHead.from_json(args.head.read_text()) if with_head and args.head else None
    return DomainClassifier(model, head=head, use_ocr=not args.no_ocr)


def run_classify(args: argparse.Namespace) -> int:
    classifier = _classifier(args)
    worst = 0
    for source in args.inputs:
        try:
            result = classifier.classify(source.read_bytes()).as_dict()
        except (SecurePixError, OSError) as exc:
            code = exc.exit_code if isinstance(exc, SecurePixError) else EXIT_BAD_INPUT
            worst = max(worst, code)
            message = str(exc) if isinstance(exc, SecurePixError) else f"cannot read {source}: {exc.strerror}"
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

    try:
        classifier = _classifier(args)
        examples = evaluation.read_examples(classifier, args.dataset)
    except (ValueError, SecurePixError) as exc:
        print(f"securepix: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    result = evaluation.report(examples, evaluation.predictions(classifier, examples, args.cross_validate))
    result["model"] = classifier.backbone.name
    print(json.dumps(result) if args.json else evaluation.render_table(result))
    return 0


def run_train(args: argparse.Namespace) -> int:
    from classification.engine import evaluation, head

    try:
        classifier = _classifier(args, with_head=False)
        examples = evaluation.read_examples(classifier, args.dataset)
    except (ValueError, SecurePixError) as exc:
        print(f"securepix: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    trained = evaluation.train_head(examples, classifier.backbone.name)
    output = args.output or head.default_path(classifier.backbone.name)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(trained.to_json())
    print(json.dumps({"output": str(output), "sha256": trained.digest, **trained.manifest}))
    return 0
