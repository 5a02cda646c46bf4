"""tuner.trial without a server: report() speaks the command trainer's protocol (a JSON line on
TUNER_REPORT_FD, `continue` / `stop` back on TUNER_REPLY_FD), checked against a stand-in worker
that runs the program as a child process with those descriptors."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.dirname(HERE)


def run_program(body, answers, env=None):
    """Runs body in a child with the two descriptors; answers each report line in turn.
    Returns (lines reported, child's stdout)."""
    report_r, report_w = os.pipe()
    ours, theirs = socket.socketpair()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TUNER_")}
    child_env.update({"PYTHONPATH": CLIENT, "TUNER_REPORT_FD": str(report_w),
                      "TUNER_REPLY_FD": str(theirs.fileno()), "TUNER_TRIAL_ID": "9"})
    child_env.update(env or {})
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(body)], env=child_env,
                             pass_fds=(report_w, theirs.fileno()), stdout=subprocess.PIPE,
                             text=True)
    os.close(report_w)
    theirs.close()
    lines = []
    with os.fdopen(report_r) as reports:
        for line in reports:
            lines.append(json.loads(line))
            answer = answers[len(lines) - 1] if len(lines) <= len(answers) else None
            if answer is None:
                ours.close()  # the worker went away
                break
            ours.sendall((answer + "\n").encode())
    out = child.communicate(timeout=30)[0]
    return lines, out


class ReportTest(unittest.TestCase):
    def test_answers_become_should_stop(self):
        lines, out = run_program("""
            import tuner
            for epoch in range(1, 10):
                stop = tuner.report(epoch, val_accuracy=0.1 * epoch, loss=1.0 / epoch)
                print(epoch, stop)
                if stop:
                    break
            """, ["continue", "continue", "stop"])
        self.assertEqual([l["epoch"] for l in lines], [1, 2, 3])
        self.assertAlmostEqual(lines[2]["val_accuracy"], 0.3)
        self.assertEqual(out.split("\n")[:3], ["1 False", "2 False", "3 True"])

    def test_a_worker_that_went_away_means_stop(self):
        lines, out = run_program("""
            import tuner
            print(tuner.report(1, val_accuracy=0.5), tuner.report(2, val_accuracy=0.6))
            """, [])
        self.assertEqual(out.strip(), "True True")
        self.assertEqual(len(lines), 1)  # the second report is not even tried

    def test_non_finite_values_go_as_null_for_the_worker_to_name(self):
        lines, _ = run_program("""
            import tuner
            tuner.report(1, val_accuracy=float("nan"))
            """, ["continue"])
        self.assertEqual(lines, [{"epoch": 1, "val_accuracy": None}])

    def test_bad_calls_are_refused_before_anything_is_sent(self):
        _, out = run_program("""
            import tuner
            for call in (lambda: tuner.report(0, val_accuracy=1),
                         lambda: tuner.report(1.5, val_accuracy=1),
                         lambda: tuner.report(1),
                         lambda: tuner.report(1, val_accuracy="high"),
                         lambda: tuner.report(1, acc=0.3)):
                try:
                    call()
                except (ValueError, TypeError) as e:
                    print(type(e).__name__, e)
            """, [], env={"TUNER_OBJECTIVE": "val_accuracy"})
        self.assertIn("epoch must be an integer >= 1 (got 0)", out)
        self.assertIn("epoch must be an integer >= 1 (got 1.5)", out)
        self.assertIn("give at least the objective metric", out)
        self.assertIn("val_accuracy='high' is not a number", out)
        self.assertIn("the study's objective.metric is 'val_accuracy'; got acc", out)


class OutsideATrialTest(unittest.TestCase):
    def setUp(self):
        sys.path.insert(0, CLIENT)
        self.saved = {k: v for k, v in os.environ.items() if k.startswith("TUNER_")}
        for k in self.saved:
            del os.environ[k]

    def tearDown(self):
        os.environ.update(self.saved)

    def test_defaults_and_a_printed_report(self):
        import io
        import tuner
        self.assertFalse(tuner.in_trial())
        self.assertEqual(tuner.params({"lr": 0.1}), {"lr": 0.1})
        with self.assertRaisesRegex(RuntimeError, "TUNER_PARAMS is not set"):
            tuner.params()
        self.assertEqual((tuner.start_epoch(), tuner.budget_epochs(5)), (0, 5))
        saved, sys.stdout = sys.stdout, io.StringIO()
        try:
            self.assertFalse(tuner.report(2, val_accuracy=0.5))
            printed = sys.stdout.getvalue()
        finally:
            sys.stdout = saved
        self.assertEqual(json.loads(printed), {"epoch": 2, "val_accuracy": 0.5})

    def test_params_from_the_environment(self):
        import tuner
        os.environ["TUNER_PARAMS"] = '{"units": 128, "optimizer": "adam"}'
        try:
            self.assertEqual(tuner.params(), {"units": 128, "optimizer": "adam"})
        finally:
            del os.environ["TUNER_PARAMS"]


if __name__ == "__main__":
    unittest.main()
