"""tuner: Python for tuner-server.

Inside a program run by a trial-worker's command trainer (``trainer: {kind: command}``)::

    import tuner
    p = tuner.params()                       # {"learning_rate": 0.001, "units": 128}
    for epoch in range(tuner.start_epoch() + 1, tuner.budget_epochs() + 1):
        ...train one epoch, save to tuner.checkpoint_dir()...
        if tuner.report(epoch, val_accuracy=acc, val_loss=loss):
            break                            # pruned, end of the rung or study stopped

In a notebook, with a tuner-server to talk to (needs python3-grpcio, python3-protobuf)::

    from tuner import Study
    study = Study.create("examples/own-code/fashion-mnist-hyperband.yaml", address="host:50051")
    study.wait()
    study.best()

The trial functions need nothing but the standard library; ``Study`` imports gRPC when used.
"""
from tuner.trial import (budget_epochs, checkpoint_dir, execution, in_trial, objective, params,
                         report, resume_dir, seed, start_epoch, trial_id)

__all__ = ["Study", "TunerError", "budget_epochs", "checkpoint_dir", "execution", "in_trial",
           "objective", "params", "report", "resume_dir", "seed", "start_epoch", "trial_id"]


def __getattr__(name):
    # Study needs grpc; a training program that only reports should not.
    if name in ("Study", "TunerError"):
        from tuner import study
        return getattr(study, name)
    raise AttributeError(f"module 'tuner' has no attribute {name!r}")
