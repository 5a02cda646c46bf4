#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_rpc_requests: one file per request, the first byte picks the
RPC (see fuzz_rpc_requests.cc; bit 7 set: the lease clock jumps past every deadline after the
call), the rest is the serialized request. The fixture holds study 1, worker 1 and trial 1 leased
at attempt 1 with the token FUZZ_TOKEN (the fixture's token generator), so seeds name that
lease. Needs python3-protobuf and protoc (Debian packages).

    /usr/bin/python3 tests/fuzz/make_rpc_seeds.py   # rewrites tests/fuzz/corpus/fuzz_rpc_requests
"""
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus", "fuzz_rpc_requests")
FUZZ_TOKEN = "0123456789abcdef0123456789abcdef"  # kFuzzToken in fuzz_rpc_requests.cc

RPC = {"CreateStudy": 0, "GetStudy": 1, "ListStudies": 2, "ListTrials": 3, "GetBestTrials": 4,
       "StopStudy": 5, "WatchStudy": 6, "RegisterWorker": 7, "AcquireTrial": 8, "Heartbeat": 9,
       "ReportIntermediate": 10, "CompleteTrial": 11, "FailTrial": 12, "UploadCheckpoint": 13,
       "DownloadCheckpoint": 14, "EnqueueTrial": 15, "CreateEnsemble": 16, "ListEnsembles": 17,
       "CompleteEnsemble": 18, "FailEnsemble": 19}


def page_token(list_name, last_key):
    import base64
    text = f"tuner.v1.page|{list_name}|{last_key}".encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def main():
    with tempfile.TemporaryDirectory(prefix="tuner-fuzz-py-") as out:
        write_seeds(out)


def write_seeds(out):
    subprocess.run(["protoc", f"--proto_path={ROOT}", f"--python_out={out}",
                    os.path.join(ROOT, "proto", "tuner.proto")], check=True)
    sys.path.insert(0, out)
    from proto import tuner_pb2 as pb  # noqa: E402

    def lease(trial_id=1, attempt=1, worker_id=1, token=FUZZ_TOKEN):
        return pb.Lease(trial_id=trial_id, attempt=attempt, deadline=1e9 + 2,
                        worker_id=worker_id, token=token)

    spec = open(os.path.join(ROOT, "examples", "synthetic-random.yaml")).read()
    seeds = {
        "create-ok": ("CreateStudy", pb.CreateStudyRequest(spec_yaml=spec)),
        "create-empty": ("CreateStudy", pb.CreateStudyRequest(spec_yaml="")),
        "get-1": ("GetStudy", pb.GetStudyRequest(study_id=1)),
        "get-neg": ("GetStudy", pb.GetStudyRequest(study_id=-1)),
        "list-studies": ("ListStudies", pb.ListStudiesRequest()),
        # Page tokens as tuner-server/pagination.cc writes them (opaque to clients).
        "list-studies-page": ("ListStudies", pb.ListStudiesRequest(
            page_size=1, with_spec_yaml=True, page_token=page_token("studies", 0))),
        "list-trials-page": ("ListTrials", pb.ListTrialsRequest(
            study_id=1, page_size=1, page_token=page_token("trials of study 1", 0))),
        "list-trials-foreign-token": ("ListTrials", pb.ListTrialsRequest(
            study_id=1, page_token=page_token("trials of study 2", 0))),
        "list-trials": ("ListTrials", pb.ListTrialsRequest(study_id=1, states=[1, 2, 99],
                                                           with_intermediate_values=True)),
        "best-k": ("GetBestTrials", pb.GetBestTrialsRequest(study_id=1, k=3)),
        "best-k-huge": ("GetBestTrials", pb.GetBestTrialsRequest(study_id=1, k=2**31 - 1)),
        "stop-1": ("StopStudy", pb.StopStudyRequest(study_id=1)),
        "watch-1": ("WatchStudy", pb.WatchStudyRequest(study_id=1)),
        "register": ("RegisterWorker", pb.RegisterWorkerRequest(name="w2", host="h",
                                                                devices=["cpu", "cuda:0"])),
        "register-empty": ("RegisterWorker", pb.RegisterWorkerRequest()),
        "acquire": ("AcquireTrial", pb.AcquireTrialRequest(worker_id=1, wait_seconds=0)),
        "acquire-park": ("AcquireTrial", pb.AcquireTrialRequest(worker_id=1, wait_seconds=3)),
        "acquire-nan": ("AcquireTrial", pb.AcquireTrialRequest(worker_id=1,
                                                               wait_seconds=math.nan)),
        "heartbeat": ("Heartbeat", pb.HeartbeatRequest(lease=lease())),
        "heartbeat-old": ("Heartbeat", pb.HeartbeatRequest(lease=lease(attempt=7))),
        "heartbeat-forged": ("Heartbeat", pb.HeartbeatRequest(lease=lease(worker_id=2,
                                                                          token=""))),
        "complete-forged": ("CompleteTrial", pb.CompleteTrialRequest(
            lease=lease(token="f" * 32), value=1e300, epochs_done=3)),
        "report": ("ReportIntermediate", pb.ReportIntermediateRequest(
            lease=lease(), intermediate=pb.IntermediateValue(execution=1, epoch=2, value=0.5,
                                                             metrics={"loss": 0.3}))),
        "report-inf": ("ReportIntermediate", pb.ReportIntermediateRequest(
            lease=lease(), intermediate=pb.IntermediateValue(epoch=1, value=math.inf))),
        "complete": ("CompleteTrial", pb.CompleteTrialRequest(
            lease=lease(), value=0.9, metrics={"val_accuracy": 0.9}, epochs_done=3)),
        "complete-nan": ("CompleteTrial", pb.CompleteTrialRequest(lease=lease(),
                                                                  value=math.nan)),
        "complete-ckpt": ("CompleteTrial", pb.CompleteTrialRequest(
            lease=lease(), value=0.1, epochs_done=3, checkpoint_id="../../etc/passwd")),
        "fail-retry": ("FailTrial", pb.FailTrialRequest(lease=lease(), reason="oom",
                                                        retryable=True)),
        "fail-final": ("FailTrial", pb.FailTrialRequest(lease=lease(), reason="bad",
                                                        retryable=False)),
        "upload-first": ("UploadCheckpoint", pb.CheckpointChunk(lease=lease(), epoch=3,
                                                                data=b"weights")),
        # A download carries the caller's lease (trial 1's, or an ensemble job's); without one
        # it is refused before any lookup.
        "download": ("DownloadCheckpoint", pb.DownloadCheckpointRequest(
            worker_id=1, checkpoint_id="0123456789abcdef0123456789abcdef", lease=lease())),
        "download-escape": ("DownloadCheckpoint", pb.DownloadCheckpointRequest(
            worker_id=1, checkpoint_id="../../../../etc/passwd", lease=lease())),
        "download-no-lease": ("DownloadCheckpoint", pb.DownloadCheckpointRequest(
            worker_id=1, checkpoint_id="0123456789abcdef0123456789abcdef")),
        "download-other-worker": ("DownloadCheckpoint", pb.DownloadCheckpointRequest(
            worker_id=2, checkpoint_id="0123456789abcdef0123456789abcdef", lease=lease())),
        "download-ensemble": ("DownloadCheckpoint", pb.DownloadCheckpointRequest(
            worker_id=1, checkpoint_id="0123456789abcdef0123456789abcdef",
            lease=pb.Lease(ensemble_id=1, attempt=1, worker_id=1, token=FUZZ_TOKEN))),
        "enqueue": ("EnqueueTrial", pb.EnqueueTrialRequest(study_id=1, params={
            "units": pb.ParamValue(string_value="256"),
            "dropout": pb.ParamValue(float_value=0.3),
            "optimizer": pb.ParamValue(string_value="adam"),
            "learning_rate": pb.ParamValue(float_value=1e-3)})),
        "enqueue-bad": ("EnqueueTrial", pb.EnqueueTrialRequest(study_id=1, params={
            "units": pb.ParamValue(float_value=math.nan), "nope": pb.ParamValue(int_value=1)})),
        "ensemble": ("CreateEnsemble", pb.CreateEnsembleRequest(study_id=1, k=2)),
        "ensemble-k0": ("CreateEnsemble", pb.CreateEnsembleRequest(study_id=1, k=0)),
        "list-ensembles": ("ListEnsembles", pb.ListEnsemblesRequest(study_id=1)),
        "complete-ensemble": ("CompleteEnsemble", pb.CompleteEnsembleRequest(
            lease=pb.Lease(ensemble_id=1, attempt=1, worker_id=1, token=FUZZ_TOKEN),
            test_accuracy=0.8,
            member_test_accuracies=[0.7, math.nan], test_images=100)),
        "fail-ensemble": ("FailEnsemble", pb.FailEnsembleRequest(
            lease=pb.Lease(ensemble_id=1, attempt=1, worker_id=1, token=FUZZ_TOKEN),
            reason="oom", retryable=True)),
    }
    os.makedirs(OUT, exist_ok=True)
    for name, (rpc, message) in seeds.items():
        body = message.SerializeToString()
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([RPC[rpc]]) + body)
        if rpc in ("Heartbeat", "AcquireTrial", "ReportIntermediate", "FailTrial"):
            with open(os.path.join(OUT, name + "-expire"), "wb") as f:
                f.write(bytes([RPC[rpc] | 0x80]) + body)
    print(f"wrote {len(os.listdir(OUT))} seeds to {OUT}")


if __name__ == "__main__":
    main()
