#!/usr/bin/env python3
"""Drives a whole study from Python with stubs generated from proto/tuner.proto, to show that
any gRPC language can use tuner-server: it creates a study, plays a worker (acquire, report
every epoch, complete) until the study is done, then asks for the best trial.

    python3 examples/python_client.py 127.0.0.1:50051

Needs python3-grpcio, python3-protobuf and protobuf-compiler-grpc (Debian packages)."""
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate_stubs():
    out = tempfile.mkdtemp(prefix="tuner-py-")
    subprocess.run(["protoc", f"--proto_path={ROOT}", f"--python_out={out}",
                    f"--grpc_python_out={out}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                    os.path.join(ROOT, "proto", "tuner.proto")], check=True)
    sys.path.insert(0, out)
    from proto import tuner_pb2, tuner_pb2_grpc  # noqa: E402
    return tuner_pb2, tuner_pb2_grpc


SPEC = """
name: python-client
algorithm: {kind: random, max_trials: 6}
seed: 11
search_space:
  units: {type: choice, values: [128, 256, 512]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, epochs: 3}
"""


def objective(params, epoch):
    units = params["units"].int_value
    lr = params["learning_rate"].float_value
    return 0.5 + units / 2048 - 0.02 * abs(math.log10(lr) + 3) + 0.001 * epoch


def list_trials(studies, pb, study_id):
    """Every trial of the study: ListTrials answers a page at a time (next_page_token)."""
    request = pb.ListTrialsRequest(study_id=study_id)
    trials = []
    while True:
        page = studies.ListTrials(request)
        trials.extend(page.trials)
        if not page.next_page_token:
            return trials
        request.page_token = page.next_page_token


def main():
    import grpc
    pb, rpc = generate_stubs()
    channel = grpc.insecure_channel(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
    studies = rpc.StudyServiceStub(channel)
    workers = rpc.WorkerServiceStub(channel)

    study_id = studies.CreateStudy(pb.CreateStudyRequest(spec_yaml=SPEC)).study_id
    worker_id = workers.RegisterWorker(pb.RegisterWorkerRequest(name="python", host="localhost",
                                                                devices=["cpu"])).worker_id
    runs = 0
    while True:
        trial = workers.AcquireTrial(pb.AcquireTrialRequest(worker_id=worker_id, wait_seconds=0))
        if not trial.has_trial:
            break
        for epoch in range(trial.start_epoch + 1, trial.budget_epochs + 1):
            value = objective(trial.params, epoch)
            answer = workers.ReportIntermediate(pb.ReportIntermediateRequest(
                lease=trial.lease, intermediate=pb.IntermediateValue(
                    epoch=epoch, value=value, metrics={"val_accuracy": value})))
            if answer.stop:
                break
        workers.CompleteTrial(pb.CompleteTrialRequest(
            lease=trial.lease, value=objective(trial.params, trial.budget_epochs),
            epochs_done=trial.budget_epochs))
        runs += 1

    study = studies.GetStudy(pb.GetStudyRequest(study_id=study_id))
    best = studies.GetBestTrials(pb.GetBestTrialsRequest(study_id=study_id, k=1)).trials[0]
    trials = list_trials(studies, pb, study_id)
    assert study.state == pb.STUDY_COMPLETED, study.state
    assert runs == 6 and len(trials) == 6, (runs, len(trials))
    assert best.value == max(t.value for t in trials)
    params = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in best.params.items()}
    print(f"python client: study {study_id} completed {runs} trials; best trial {best.trial_id} "
          f"value {best.value:.4f} params {params}")


if __name__ == "__main__":
    main()
