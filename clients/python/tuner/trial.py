"""The trial a command trainer runs this program for: params, epochs, directories, reports.

The trial-worker sets TUNER_* environment variables for each execution (docs/worker.md, "The
command trainer"). ``report`` writes one JSON line to TUNER_REPORT_FD and reads the worker's
answer, ``continue`` or ``stop``, from TUNER_REPLY_FD, so a program learns about a stop at a
point where it is not in the middle of writing a checkpoint. Run outside a trial-worker, the
functions fall back to defaults and ``report`` prints the JSON line, so a script also runs by
hand.
"""
import json
import math
import os
import sys

_channel = None


def in_trial():
    """True when a trial-worker's command trainer started this process."""
    return "TUNER_TRIAL_ID" in os.environ


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def params(defaults=None):
    """The trial's params as a dict. Outside a trial: ``defaults`` (or an error without)."""
    text = os.environ.get("TUNER_PARAMS")
    if text is None and os.environ.get("TUNER_PARAMS_FILE"):
        with open(os.environ["TUNER_PARAMS_FILE"], encoding="utf-8") as f:
            text = f.read()
    if text is None:
        if defaults is not None:
            return dict(defaults)
        raise RuntimeError("tuner.params(): TUNER_PARAMS is not set; this program was not started "
                           "by a trial-worker (pass defaults to run it by hand)")
    return json.loads(text)


def trial_id():
    return _int("TUNER_TRIAL_ID", 0)


def execution():
    """Which of executions_per_trial this run is (0-based)."""
    return _int("TUNER_EXECUTION", 0)


def seed(default=0):
    """The execution's seed (the trial's seed + execution)."""
    return _int("TUNER_SEED", default)


def start_epoch():
    """Epochs already trained: > 0 when a promoted trial resumes from resume_dir()."""
    return _int("TUNER_START_EPOCH", 0)


def budget_epochs(default=1):
    """Train up to this epoch, inclusive (Hyperband's rung budget, or trainer.epochs)."""
    return _int("TUNER_BUDGET_EPOCHS", default)


def checkpoint_dir(default="checkpoint"):
    """Where to keep the checkpoint a promotion resumes from (write it before report())."""
    path = os.environ.get("TUNER_CHECKPOINT_DIR", default)
    os.makedirs(path, exist_ok=True)
    return path


def resume_dir():
    """What checkpoint_dir() held when the trial's previous rung ended; empty at epoch 0."""
    return os.environ.get("TUNER_RESUME_DIR", "")


def objective():
    """The study's objective.metric: the name report() must be given."""
    return os.environ.get("TUNER_OBJECTIVE", "")


class _Channel:
    def __init__(self):
        self.report = int(os.environ["TUNER_REPORT_FD"])
        self.reply = int(os.environ["TUNER_REPLY_FD"])
        self.closed = False

    def exchange(self, line):
        if self.closed:
            return "stop"
        try:
            os.write(self.report, line.encode("utf-8"))
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = os.read(self.reply, 64)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            answer = b""
        if not answer:
            self.closed = True  # the worker is gone: nothing to train for
            return "stop"
        return answer.decode("utf-8", "replace").strip()


def _number(name, value):
    try:
        number = float(value)  # also numpy and torch scalars
    except (TypeError, ValueError):
        raise TypeError(f"tuner.report(): {name}={value!r} is not a number") from None
    return number


def report(epoch, **metrics):
    """Reports the metrics of a finished epoch (1-based); True when training should stop.

    One of the metrics must be the study's objective.metric. A stop comes when the pruner
    stops the trial, its Hyperband rung's budget is reached, or the study was stopped: save
    what you need and return (the worker ends the process after trainer.grace_seconds)."""
    if isinstance(epoch, bool) or int(epoch) != epoch or epoch < 1:
        raise ValueError(f"tuner.report(): epoch must be an integer >= 1 (got {epoch!r})")
    if not metrics:
        raise ValueError("tuner.report(): give at least the objective metric, e.g. "
                         "val_accuracy=0.9")
    line = {"epoch": int(epoch)}
    for name, value in metrics.items():
        number = _number(name, value)
        line[name] = number if math.isfinite(number) else None
    wanted = objective()
    if wanted and wanted not in metrics:
        raise ValueError(f"tuner.report(): the study's objective.metric is {wanted!r}; got "
                         f"{', '.join(sorted(metrics))}")
    text = json.dumps(line, allow_nan=False) + "\n"
    if "TUNER_REPORT_FD" not in os.environ:
        sys.stdout.write(text)
        sys.stdout.flush()
        return False
    global _channel
    if _channel is None:
        _channel = _Channel()
    return _channel.exchange(text) == "stop"
