"""What to do when the predicted domain differs from the declared one.

For each (declared, predicted) pair and a confidence threshold the policy says
allow, acknowledge (the user must acknowledge the mismatch with a reason) or
block.  Default: a confident mismatch needs an acknowledgment; nothing is
blocked.  When the classifier is unsure (its answer is `none` because no domain
reached its confidence), a leaning towards a domain stricter than the declared
one still asks from `leaning_threshold` on: a CT dose screen that is 52 %
medical must not pass as `none`.  Django-free, so that the command line can
use it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.domains import ACKNOWLEDGE, ALLOW, DECISIONS, DOMAINS


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str
    # set when an unsure answer's leaning decided: the domain and its probability
    leaning: tuple[str, float] | None = None


# Most sensitive first.  Declaring a domain at least as sensitive as the
# predicted one (a cat photo declared personal) needs no acknowledgment: the
# policy exists to catch under-declaration, an image handled with less care
# than what it shows needs.
SENSITIVITY = ("medical", "legal", "finance", "personal", "surveillance", "none")


@dataclass(frozen=True)
class MismatchPolicy:
    threshold: float = 0.6
    default: str = ACKNOWLEDGE
    leaning_threshold: float = 0.5
    rules: dict[tuple[str, str], str] = field(default_factory=dict)
    sensitivity: tuple[str, ...] = SENSITIVITY

    def __post_init__(self) -> None:
        if sorted(self.sensitivity) != sorted(DOMAINS):
            raise ValueError(f"the sensitivity order must name each domain once: {', '.join(DOMAINS)}")
        for name, value in (("threshold", self.threshold), ("leaning threshold", self.leaning_threshold)):
            if not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ValueError(f"the mismatch {name} must be between 0 and 1, not {value}")
        for (declared, predicted), action in [(("*", "*"), self.default), *self.rules.items()]:
            if action not in DECISIONS:
                raise ValueError(f"unknown policy action {action!r}; use {', '.join(DECISIONS)}")
            for domain in (declared, predicted):
                if domain != "*" and domain not in DOMAINS:
                    raise ValueError(f"unknown domain {domain!r} in the mismatch policy")

    @classmethod
    def parse(
        cls,
        threshold: float,
        default: str,
        rules: str,
        sensitivity: tuple[str, ...] = SENSITIVITY,
        leaning_threshold: float = 0.5,
    ) -> MismatchPolicy:
        """Rules as text: `declared:predicted=action` pairs separated by commas,
        e.g. `personal:medical=block,none:*=allow`; they come before the
        sensitivity order."""
        parsed: dict[tuple[str, str], str] = {}
        for item in filter(None, (part.strip() for part in rules.split(","))):
            try:
                pair, action = item.split("=")
                declared, predicted = pair.split(":")
            except ValueError:
                raise ValueError(f"mismatch rule {item!r} is not of the form declared:predicted=action") from None
            parsed[(declared.strip(), predicted.strip())] = action.strip()
        return cls(
            threshold=threshold,
            default=default,
            rules=parsed,
            sensitivity=tuple(sensitivity),
            leaning_threshold=leaning_threshold,
        )

    def stricter_or_equal(self, declared: str, predicted: str) -> bool:
        return self.sensitivity.index(declared) <= self.sensitivity.index(predicted)

    def decide(
        self, declared: str, predicted: str, confidence: float, leaning: tuple[str, float] | None = None
    ) -> Decision:
        """`leaning`: when the answer is an unsure `none`, the domain the image
        leans to and its probability (Classification.leaning); the decision
        then goes by that domain, with the same rules and order as a confident one."""
        if declared not in DOMAINS:
            raise ValueError(f"unknown declared domain {declared!r}; choose one of {', '.join(DOMAINS)}")
        if leaning is not None and predicted == "none":
            towards, probability = leaning
            if probability >= self.leaning_threshold and towards != declared:
                action = self._mismatch_action(declared, towards)
                if action is not None and action != ALLOW:
                    return Decision(
                        action,
                        f"declared {declared}; the classifier is unsure, but the image may be {towards} "
                        f"({probability:.0%}), which needs more care",
                        leaning,
                    )
        if predicted == declared:
            return Decision(ALLOW, f"the image looks {predicted}, as declared")
        if confidence < self.threshold:
            return Decision(
                ALLOW, f"the image may be {predicted} ({confidence:.0%}), below the {self.threshold:.0%} threshold"
            )
        action = self._mismatch_action(declared, predicted)
        if action is None:
            return Decision(
                ALLOW,
                f"the image looks {predicted} ({confidence:.0%}); {declared}, as declared, "
                "is handled at least as carefully",
            )
        return Decision(
            action, f"declared {declared}, but the image looks {predicted} ({confidence:.0%}), which needs more care"
        )

    def _mismatch_action(self, declared: str, predicted: str) -> str | None:
        """What a mismatch calls for: a pair rule's action, else None when the
        declared domain is handled at least as carefully, else the default."""
        for key in ((declared, predicted), (declared, "*"), ("*", predicted)):
            if key in self.rules:
                return self.rules[key]
        return None if self.stricter_or_equal(declared, predicted) else self.default
