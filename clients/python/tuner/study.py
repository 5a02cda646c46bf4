"""Study: a tuner-server study from Python (a notebook, a script): create one from a spec,
follow it, read its trials and its best. A thin layer over the StudyService stubs; every
server refusal is raised as TunerError with the server's message (which names the field)."""
import json
import os
import time

import grpc

from tuner import _stubs

pb, rpc = _stubs.load()

_DONE = ("STUDY_COMPLETED", "STUDY_STOPPED")


class TunerError(RuntimeError):
    """A call the tuner-server refused: .code is the grpc.StatusCode."""

    def __init__(self, code, message):
        super().__init__(f"{code.name}: {message}")
        self.code = code


def _call(method, request):
    try:
        return method(request)
    except grpc.RpcError as e:
        raise TunerError(e.code(), e.details()) from None


def _value(param):
    kind = param.WhichOneof("kind")
    return getattr(param, kind) if kind else None


def _trial(t):
    out = {
        "trial_id": t.trial_id, "number": t.number, "state": pb.TrialState.Name(t.state),
        "params": {k: _value(v) for k, v in sorted(t.params.items())},
        "value": t.value if t.has_value else None, "metrics": dict(t.metrics),
        "epochs_done": t.epochs_done, "budget_epochs": t.budget_epochs, "bracket": t.bracket,
        "rung": t.rung, "attempt": t.attempt, "worker": t.worker_name,
        "fail_reason": t.fail_reason,
    }
    if t.intermediate_values:
        out["intermediate_values"] = [
            {"execution": v.execution, "epoch": v.epoch, "value": v.value,
             "metrics": dict(v.metrics)} for v in t.intermediate_values]
    return out


def _channel(address, token, tls_ca):
    address = address or os.environ.get("TUNER_SERVER") or "127.0.0.1:50051"
    if tls_ca:
        with open(tls_ca, "rb") as f:
            channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(f.read()))
    else:
        channel = grpc.insecure_channel(address)
    token = token if token is not None else os.environ.get("TUNER_TOKEN")
    metadata = [("authorization", f"Bearer {token}")] if token else []
    return channel, metadata


class Study:
    """One study. Build it with Study.create(spec) or Study.get(study_id)."""

    def __init__(self, study_id, address=None, token=None, tls_ca=None, timeout=30.0):
        self.study_id = int(study_id)
        self._channel, self._metadata = _channel(address, token, tls_ca)
        self._stub = rpc.StudyServiceStub(self._channel)
        self._timeout = timeout
        self._study = None

    def _rpc(self, name, request):
        method = getattr(self._stub, name)
        return _call(lambda r: method(r, metadata=self._metadata, timeout=self._timeout), request)

    @classmethod
    def create(cls, spec, address=None, token=None, tls_ca=None, request_id=""):
        """spec: a path to a YAML file, YAML text, or a dict (sent as JSON, which is YAML)."""
        if isinstance(spec, dict):
            text = json.dumps(spec)
        elif "\n" not in spec and os.path.exists(spec):
            with open(spec, encoding="utf-8") as f:
                text = f.read()
        else:
            text = spec
        study = cls(0, address, token, tls_ca)
        reply = study._rpc("CreateStudy", pb.CreateStudyRequest(spec_yaml=text,
                                                                request_id=request_id))
        study.study_id = reply.study_id
        study._study = reply.study
        return study

    @classmethod
    def get(cls, study_id, address=None, token=None, tls_ca=None):
        study = cls(study_id, address, token, tls_ca)
        study.refresh()
        return study

    def refresh(self):
        self._study = self._rpc("GetStudy", pb.GetStudyRequest(study_id=self.study_id))
        return self

    @property
    def name(self):
        return (self._study or self.refresh()._study).name

    @property
    def state(self):
        """STUDY_RUNNING, STUDY_COMPLETED or STUDY_STOPPED, as the server says now."""
        return pb.StudyState.Name(self.refresh()._study.state)

    @property
    def trial_counts(self):
        return dict(self.refresh()._study.trial_counts)

    def trials(self, states=None, with_intermediate_values=False):
        """Every trial (a list of dicts, by number): pandas.DataFrame(study.trials()) works."""
        request = pb.ListTrialsRequest(
            study_id=self.study_id, with_intermediate_values=with_intermediate_values,
            states=[pb.TrialState.Value(s) for s in (states or [])])
        out = []
        while True:
            page = self._rpc("ListTrials", request)
            out.extend(_trial(t) for t in page.trials)
            if not page.next_page_token:
                return out
            request.page_token = page.next_page_token

    def best(self, k=1):
        """The best COMPLETED trial (k=1: a dict, or None before any), or the best k (a list)."""
        trials = [_trial(t) for t in
                  self._rpc("GetBestTrials", pb.GetBestTrialsRequest(study_id=self.study_id,
                                                                     k=k)).trials]
        if k == 1:
            return trials[0] if trials else None
        return trials

    def wait(self, timeout=None, poll_seconds=1.0):
        """Blocks until the study completes or is stopped; returns its state. TimeoutError after
        timeout seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self.state
            if state in _DONE:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"study {self.study_id} is still {state} after {timeout} s")
            time.sleep(poll_seconds)

    def stop(self):
        self._study = self._rpc("StopStudy", pb.StopStudyRequest(study_id=self.study_id))
        return pb.StudyState.Name(self._study.state)

    def __repr__(self):
        return f"Study({self.study_id})"
