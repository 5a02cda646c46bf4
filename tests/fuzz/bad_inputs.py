#!/usr/bin/env python3
"""Sends each bad input of docs/reliability.md's table to a real tuner-server (127.0.0.1, temp
db, OS-chosen port) and prints the table rows with the server's real answers (status code and
message), then whether the server is still alive and serving.

    /usr/bin/python3 tests/fuzz/bad_inputs.py build/tuner-server/tuner-server

Needs python3-grpcio, python3-protobuf and protoc (Debian packages)."""
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GOOD_SPEC = """name: probe
algorithm: {kind: random, max_trials: 50}
seed: 1
executions_per_trial: 2
search_space:
  units: {type: choice, values: [128, 256]}
trainer: {kind: synthetic, epochs: 3}
"""


def spec(**fields):
    """GOOD_SPEC with top-level lines replaced or added (value None: removed)."""
    lines = {}
    order = []
    for line in GOOD_SPEC.strip().split("\n"):
        if not line.startswith(" "):
            key = line.split(":")[0]
            order.append(key)
            lines[key] = [line]
        else:
            lines[order[-1]].append(line)
    for key, value in fields.items():
        if key not in lines:
            order.append(key)
        lines[key] = [] if value is None else [f"{key}: {value}"]
    return "\n".join(l for k in order for l in lines[k]) + "\n"


def main():
    import grpc
    server_bin = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="tuner-probe-")
    subprocess.run(["protoc", f"--proto_path={ROOT}", f"--python_out={work}",
                    f"--grpc_python_out={work}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                    os.path.join(ROOT, "proto", "tuner.proto")], check=True)
    sys.path.insert(0, work)
    from proto import tuner_pb2 as pb, tuner_pb2_grpc as rpc

    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([server_bin, "--db", os.path.join(work, "t.db"), "--listen",
                               "127.0.0.1:0", "--port-file", os.path.join(work, "port"),
                               "--lease-seconds", "30"], stdout=log, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(os.path.join(work, "port")) and open(os.path.join(work, "port")).read():
                break
            time.sleep(0.05)
        port = open(os.path.join(work, "port")).read().strip()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_send_message_length", 64 << 20)])
        studies = rpc.StudyServiceStub(channel)
        workers = rpc.WorkerServiceStub(channel)

        study_id = studies.CreateStudy(pb.CreateStudyRequest(spec_yaml=GOOD_SPEC)).study_id
        worker_id = workers.RegisterWorker(pb.RegisterWorkerRequest(name="probe")).worker_id
        trial = workers.AcquireTrial(pb.AcquireTrialRequest(worker_id=worker_id))
        current = {"lease": trial.lease}

        def new_lease():  # before a probe that may end the current lease
            got = workers.AcquireTrial(pb.AcquireTrialRequest(worker_id=worker_id))
            current["lease"] = got.lease

        def L(**kw):
            lease = current["lease"]
            d = dict(trial_id=lease.trial_id, attempt=lease.attempt, deadline=lease.deadline,
                     worker_id=lease.worker_id, token=lease.token)
            d.update(kw)
            return pb.Lease(**d)

        rows = []

        def probe(area, what, call):
            try:
                reply = call()
                if hasattr(reply, "__iter__") and not hasattr(reply, "ListFields"):
                    reply = list(reply)
                text = str(reply).replace("\n", " ")[:90] if reply is not None else ""
                answer = f"OK {text}".strip()
            except grpc.RpcError as e:
                answer = f"{e.code().name}: {e.details()}"
            # Control characters as escapes so each answer stays one table cell.
            answer = "".join(c if c.isprintable() else repr(c)[1:-1] for c in answer)
            answer = answer.replace("|", "\\|")
            rows.append((area, what, answer))

        def create(text):
            return lambda: studies.CreateStudy(pb.CreateStudyRequest(spec_yaml=text), timeout=20)

        # ---- specs
        probe("spec", "empty spec", create(""))
        probe("spec", "not YAML (`{{{`)", create("{{{"))
        probe("spec", "a list, not a mapping", create("[1, 2]"))
        probe("spec", "`name: ../../etc/passwd`", create(spec(name="../../etc/passwd")))
        probe("spec", "`name:` 65 characters", create(spec(name="a" * 65)))
        probe("spec", "`name` with a newline / NUL", create(spec(name='"a\\nb\\0"')))
        probe("spec", "unknown top-level key `foo: 1`", create(spec(foo=1)))
        probe("spec", "key given twice", create(GOOD_SPEC + "seed: 2\n"))
        probe("spec", "`max_trials: 0`", create(spec(algorithm="{kind: random, max_trials: 0}")))
        probe("spec", "`max_trials: 1e12`", create(spec(algorithm="{kind: random, max_trials: 1000000000000}")))
        probe("spec", "`max_trials: .nan`", create(spec(algorithm="{kind: random, max_trials: .nan}")))
        probe("spec", "`max_trials: 2.5`", create(spec(algorithm="{kind: random, max_trials: 2.5}")))
        probe("spec", "`kind: bayes`", create(spec(algorithm="{kind: bayes}")))
        probe("spec", "hyperband `eta: 1`", create(spec(algorithm="{kind: hyperband, max_epochs: 9, eta: 1}")))
        probe("spec", "hyperband `max_epochs: 0`", create(spec(algorithm="{kind: hyperband, max_epochs: 0}")))
        probe("spec", "float `min: .nan`", create(spec(search_space="{x: {type: float, min: .nan, max: 1}}")))
        probe("spec", "float `max: .inf`", create(spec(search_space="{x: {type: float, min: 0, max: .inf}}")))
        probe("spec", "float `min > max`", create(spec(search_space="{x: {type: float, min: 2, max: 1}}")))
        probe("spec", "float `log: true, min: 0`", create(spec(search_space="{x: {type: float, min: 0, max: 1, log: true}}")))
        probe("spec", "float `step: 0`", create(spec(search_space="{x: {type: float, min: 0, max: 1, step: 0}}")))
        probe("spec", "float `step: -0.1`", create(spec(search_space="{x: {type: float, min: 0, max: 1, step: -0.1}}")))
        probe("spec", "int `min: -2^63, max: 2^63-1`", create(spec(search_space="{x: {type: int, min: -9223372036854775808, max: 9223372036854775807}}")))
        probe("spec", "int `max: 1e30`", create(spec(search_space="{x: {type: int, min: 0, max: 1e30}}")))
        probe("spec", "choice `values: []`", create(spec(search_space="{x: {type: choice, values: []}}")))
        probe("spec", "choice with 100000 values", create(spec(search_space="{x: {type: choice, values: [" + ",".join(str(i) for i in range(100000)) + "]}}")))
        probe("spec", "empty `search_space: {}`", create(spec(search_space="{}")))
        probe("spec", "param name `../x`", create(spec(search_space="{'../x': {type: int, min: 0, max: 1}}")))
        probe("spec", "grid of 2e9 x 2e9 ints", create(spec(algorithm="{kind: grid}", search_space="{a: {type: int, min: 0, max: 2000000000}, b: {type: int, min: 0, max: 2000000000}}")))
        probe("spec", "`executions_per_trial: 0`", create(spec(executions_per_trial=0)))
        probe("spec", "`executions_per_trial: 101`", create(spec(executions_per_trial=101)))
        probe("spec", "`max_attempts: -1`", create(spec(max_attempts=-1)))
        probe("spec", "`seed: -1`", create(spec(seed=-1)))
        probe("spec", "`seed: 2^64`", create(spec(seed=18446744073709551616)))
        probe("spec", "`trainer` without `kind`", create(spec(trainer="{epochs: 3}")))
        probe("spec", "`trainer: {kind: rm -rf /}`", create(spec(trainer="{kind: 'rm -rf /', epochs: 3}")))
        probe("spec", "`trainer.epochs: -3`", create(spec(trainer="{kind: synthetic, epochs: -3}")))
        bomb = "trainer:\n  kind: synthetic\n  epochs: 3\n  a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"  {chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
            for i in range(8))
        probe("spec", "YAML alias bomb in `trainer` (9^9 nodes)", create(spec(trainer=None) + bomb))
        probe("spec", "10000 nested `[`", create("name: " + "[" * 10000 + "]" * 10000))
        probe("spec", "spec of 1 MiB + 1", create("#" * ((1 << 20) + 1)))
        probe("spec", "spec of 5 MiB", create("#" * (5 << 20)))
        probe("spec", "spec of 17 MiB (over the 16 MiB message limit)", create("#" * (17 << 20)))
        probe("spec", "non-ASCII name `naïve`", create(spec(name="naïve")))
        probe("spec", "20000 params", create(spec(search_space=None) + "search_space:\n" + "".join(
            f"  p{i}: {{type: float, min: 0, max: 1}}\n" for i in range(20000))))

        # ---- study RPCs
        probe("study RPC", "GetStudy `study_id: 999`", lambda: studies.GetStudy(pb.GetStudyRequest(study_id=999)))
        probe("study RPC", "GetStudy `study_id: -1`", lambda: studies.GetStudy(pb.GetStudyRequest(study_id=-1)))
        probe("study RPC", "ListTrials `states: [42]`", lambda: studies.ListTrials(pb.ListTrialsRequest(study_id=study_id, states=[42])))
        probe("study RPC", "ListStudies `page_size: -1`", lambda: studies.ListStudies(pb.ListStudiesRequest(page_size=-1)))
        probe("study RPC", "ListTrials `page_size: 10001`", lambda: studies.ListTrials(pb.ListTrialsRequest(study_id=study_id, page_size=10001)))
        probe("study RPC", "ListTrials `page_token: \"x\"`", lambda: studies.ListTrials(pb.ListTrialsRequest(study_id=study_id, page_token="x")))
        probe("study RPC", "GetBestTrials `k: -1`", lambda: studies.GetBestTrials(pb.GetBestTrialsRequest(study_id=study_id, k=-1)))
        probe("study RPC", "GetBestTrials `k: 2^31-1`", lambda: studies.GetBestTrials(pb.GetBestTrialsRequest(study_id=study_id, k=2**31 - 1)))
        probe("study RPC", "WatchStudy `study_id: 999`", lambda: studies.WatchStudy(pb.WatchStudyRequest(study_id=999), timeout=5))
        probe("study RPC", "StopStudy `study_id: 999`", lambda: studies.StopStudy(pb.StopStudyRequest(study_id=999)))

        # ---- worker RPCs
        probe("worker RPC", "RegisterWorker `name: \"\"`", lambda: workers.RegisterWorker(pb.RegisterWorkerRequest(name="")))
        probe("worker RPC", "RegisterWorker name of 300 chars", lambda: workers.RegisterWorker(pb.RegisterWorkerRequest(name="w" * 300)))
        probe("worker RPC", "RegisterWorker name with newline and ANSI escape", lambda: workers.RegisterWorker(pb.RegisterWorkerRequest(name="w\n[error] fake\x1b[31m")))
        probe("worker RPC", "RegisterWorker `host:` 1 MiB", lambda: workers.RegisterWorker(pb.RegisterWorkerRequest(name="w-host", host="h" * (1 << 20))))
        probe("worker RPC", "RegisterWorker one device of 1 MiB", lambda: workers.RegisterWorker(pb.RegisterWorkerRequest(name="w-dev", devices=["d" * (1 << 20)])))
        probe("worker RPC", "RegisterWorker 65 devices", lambda: workers.RegisterWorker(pb.RegisterWorkerRequest(name="w", devices=["cpu"] * 65)))
        probe("worker RPC", "AcquireTrial unregistered `worker_id: 999`", lambda: workers.AcquireTrial(pb.AcquireTrialRequest(worker_id=999)))
        probe("worker RPC", "AcquireTrial `wait_seconds: NaN`", lambda: workers.AcquireTrial(pb.AcquireTrialRequest(worker_id=worker_id, wait_seconds=math.nan)))
        probe("worker RPC", "AcquireTrial `wait_seconds: -1`", lambda: workers.AcquireTrial(pb.AcquireTrialRequest(worker_id=worker_id, wait_seconds=-1)))
        probe("worker RPC", "AcquireTrial `wait_seconds: 1e308` (a trial is free)", lambda: workers.AcquireTrial(pb.AcquireTrialRequest(worker_id=worker_id, wait_seconds=1e308), timeout=60))
        probe("worker RPC", "Heartbeat `lease.trial_id: 0`", lambda: workers.Heartbeat(pb.HeartbeatRequest(lease=L(trial_id=0))))
        probe("worker RPC", "Heartbeat `lease.attempt: 0`", lambda: workers.Heartbeat(pb.HeartbeatRequest(lease=L(attempt=0))))
        probe("worker RPC", "Heartbeat unknown `trial_id: 999`", lambda: workers.Heartbeat(pb.HeartbeatRequest(lease=L(trial_id=999))))
        probe("worker RPC", "Heartbeat old `attempt: 2`", lambda: workers.Heartbeat(pb.HeartbeatRequest(lease=L(attempt=2))))
        probe("worker RPC", "Heartbeat with another `worker_id`", lambda: workers.Heartbeat(pb.HeartbeatRequest(lease=L(worker_id=worker_id + 1))))
        probe("worker RPC", "Complete `value: 1e300` without the lease's `token`", lambda: workers.CompleteTrial(pb.CompleteTrialRequest(lease=L(token=""), value=1e300, epochs_done=3)))
        iv = pb.IntermediateValue
        probe("worker RPC", "Report `epoch: 0`", lambda: workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(epoch=0, value=0.5))))
        probe("worker RPC", "Report `epoch: 4` (budget 3)", lambda: workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(epoch=4, value=0.5))))
        probe("worker RPC", "Report `value: NaN`", lambda: workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(epoch=1, value=math.nan))))
        probe("worker RPC", "Report `value: -inf`", lambda: workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(epoch=1, value=-math.inf))))
        probe("worker RPC", "Report `execution: 2` (2 executions)", lambda: workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(execution=2, epoch=1, value=0.5))))
        probe("worker RPC", "Report `execution: -1`", lambda: workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(execution=-1, epoch=1, value=0.5))))
        probe("worker RPC", "Report 65 metrics", lambda: workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(epoch=1, value=0.5, metrics={f"m{i}": 1.0 for i in range(65)}))))
        probe("worker RPC", "Report metric `\"\": 1`", lambda: workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(epoch=1, value=0.5, metrics={"": 1.0}))))
        probe("worker RPC", "Report metric `loss: NaN`", lambda: workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(epoch=1, value=0.5, metrics={"loss": math.nan}))))
        probe("worker RPC", "Report the same epoch twice (idempotent)", lambda: [workers.ReportIntermediate(pb.ReportIntermediateRequest(lease=L(), intermediate=iv(epoch=1, value=0.5))) for _ in range(2)][-1])
        probe("worker RPC", "Complete `value: NaN`", lambda: workers.CompleteTrial(pb.CompleteTrialRequest(lease=L(), value=math.nan, epochs_done=3)))
        probe("worker RPC", "Complete `value: inf`", lambda: workers.CompleteTrial(pb.CompleteTrialRequest(lease=L(), value=math.inf, epochs_done=3)))
        probe("worker RPC", "Complete `epochs_done: -1`", lambda: workers.CompleteTrial(pb.CompleteTrialRequest(lease=L(), value=0.5, epochs_done=-1)))
        probe("worker RPC", "Complete `epochs_done: 99` (budget 3)", lambda: workers.CompleteTrial(pb.CompleteTrialRequest(lease=L(), value=0.5, epochs_done=99)))
        new_lease()
        probe("worker RPC", "Complete `checkpoint_id: ../../etc/passwd`", lambda: workers.CompleteTrial(pb.CompleteTrialRequest(lease=L(), value=0.5, epochs_done=3, checkpoint_id="../../etc/passwd")))
        new_lease()
        probe("worker RPC", "Complete `checkpoint_id:` unknown 32 hex", lambda: workers.CompleteTrial(pb.CompleteTrialRequest(lease=L(), value=0.5, epochs_done=3, checkpoint_id="0" * 32)))
        probe("worker RPC", "Fail `reason: \"\"`", lambda: workers.FailTrial(pb.FailTrialRequest(lease=L(), reason="")))
        new_lease()
        probe("worker RPC", "Fail `reason:` 3 MiB", lambda: workers.FailTrial(pb.FailTrialRequest(lease=L(), reason="r" * (3 << 20), retryable=True), timeout=20))

        def upload(chunks):
            return lambda: workers.UploadCheckpoint(iter(chunks), timeout=20)
        ck = pb.CheckpointChunk
        new_lease()
        probe("checkpoint", "Upload with no chunk", upload([]))
        probe("checkpoint", "Upload without a lease", upload([ck(epoch=1, data=b"x")]))
        probe("checkpoint", "Upload `epoch: 0`", upload([ck(lease=L(), epoch=0, data=b"x")]))
        probe("checkpoint", "Upload for an old attempt", upload([ck(lease=L(attempt=9), epoch=1, data=b"x")]))
        def download(checkpoint_id, **fields):
            request = pb.DownloadCheckpointRequest(checkpoint_id=checkpoint_id, **fields)
            return lambda: list(workers.DownloadCheckpoint(request, timeout=5))
        # A download carries the caller's current lease (docs/security.md, row 8).
        probe("checkpoint", "Download `../../../../etc/passwd`", download("../../../../etc/passwd", lease=L()))
        probe("checkpoint", "Download `/etc/passwd`", download("/etc/passwd", lease=L()))
        probe("checkpoint", "Download 32 upper-case hex", download("A" * 32, lease=L()))
        probe("checkpoint", "Download unknown 32 hex", download("0" * 32, lease=L()))
        probe("checkpoint", "Download without a lease", download("0" * 32, worker_id=worker_id))
        probe("checkpoint", "Download with a forged lease `token`", download("0" * 32, lease=L(token="f" * 32)))
        probe("checkpoint", "Download by unregistered `worker_id: 999`", download("0" * 32, lease=L(worker_id=999)))
        probe("checkpoint", "Download with `worker_id: 999` beside the lease", download("0" * 32, worker_id=999, lease=L()))

        for area, what, answer in rows:
            print(f"| {area} | {what} | {answer} |")
        alive = server.poll() is None
        try:
            studies.GetStudy(pb.GetStudyRequest(study_id=study_id), timeout=5)
            serving = True
        except grpc.RpcError:
            serving = False
        print(f"\nserver alive after the probes: {alive}; still serving: {serving}")
        return 0 if alive and serving else 1
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.copy(os.path.join(work, "server.log"), "/tmp/tuner-probe-server.log")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
