"""tuner.Study against a real tuner-server and trial-worker (started by
tests/integration/python_tuner_client_test.sh, which sets TUNER_SERVER and TUNER_TEST_WORK): a
study created from a dict runs a Python program that uses tuner.params() and tuner.report()
through the command trainer; the median pruner's stop reaches the program as report() == True."""
import os
import sys
import textwrap
import unittest

CLIENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, CLIENT)

from tuner import Study, TunerError  # noqa: E402

WORK = os.environ.get("TUNER_TEST_WORK", "")

PROGRAM = """
import os, sys
import tuner
p = tuner.params()
value = 1.0 / tuner.trial_id()          # later trials are worse: the pruner stops them
for epoch in range(tuner.start_epoch() + 1, tuner.budget_epochs() + 1):
    if tuner.report(epoch, val_accuracy=value, units=p["units"]):
        if epoch < tuner.budget_epochs():  # at the last epoch the answer is stop anyway
            open(os.path.join(sys.argv[1], "stopped-%d" % tuner.trial_id()), "w").write(str(epoch))
        break
"""


@unittest.skipUnless(os.environ.get("TUNER_SERVER") and WORK, "needs a server (see module doc)")
class StudyTest(unittest.TestCase):
    def test_a_study_over_a_program_that_uses_the_client(self):
        program = os.path.join(WORK, "program.py")
        with open(program, "w") as f:
            f.write(textwrap.dedent(PROGRAM))
        study = Study.create({
            "name": "python-client-study",
            "algorithm": {"kind": "random", "max_trials": 4},
            "pruner": {"kind": "median", "n_startup_trials": 1},
            "seed": 3,
            "search_space": {"units": {"type": "choice", "values": [32, 64, 128]}},
            "trainer": {"kind": "command", "epochs": 4, "argv": ["/usr/bin/python3", program, WORK],
                        "env": {"PYTHONPATH": CLIENT}},
        })
        self.assertEqual(study.name, "python-client-study")
        self.assertEqual(study.wait(timeout=60, poll_seconds=0.2), "STUDY_COMPLETED")
        trials = study.trials(with_intermediate_values=True)
        self.assertEqual(len(trials), 4)
        states = [t["state"] for t in trials]
        self.assertEqual(states[0], "COMPLETED")
        self.assertIn("PRUNED", states)
        for t in trials:
            self.assertIn(t["params"]["units"], (32, 64, 128))
            self.assertEqual(t["intermediate_values"][0]["metrics"]["units"], t["params"]["units"])
            stopped = os.path.join(WORK, "stopped-%d" % t["trial_id"])
            # The pruned program learned it from report() and ended by itself.
            self.assertEqual(os.path.exists(stopped), t["state"] == "PRUNED", t)
        best = study.best()
        completed = [t["value"] for t in trials if t["state"] == "COMPLETED"]
        self.assertEqual(best["value"], max(completed))
        self.assertEqual(best["trial_id"], trials[0]["trial_id"])
        self.assertEqual(study.trial_counts.get("COMPLETED"), len(completed))

    def test_refusals_name_the_field(self):
        with self.assertRaises(TunerError) as refused:
            Study.create("name: x\nalgorithm: {kind: random, max_trials: 1}\nsearch_space:\n"
                         "  a: {type: int, min: 1, max: 2}\ntrainer: {kind: command, argv: []}\n")
        self.assertEqual(refused.exception.code.name, "INVALID_ARGUMENT")
        self.assertIn("trainer.argv: is required", str(refused.exception))
        with self.assertRaises(TunerError) as missing:
            Study.get(987654)
        self.assertEqual(missing.exception.code.name, "NOT_FOUND")


if __name__ == "__main__":
    unittest.main()
