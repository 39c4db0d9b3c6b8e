"""A Node script as a child process that speaks one JSON object per line
each way: the test writes {"op": ..., ...}; the script answers with a line
"= {...}" per step and may print anything else, which is passed through
with a label. Used by test_approver.py (approver_e2e.mjs, real Chromium)
and test_docs_client.py (docs_client.mjs, the phone client written from the
docs)."""

import json
import queue
import subprocess
import threading


class StepFailed(Exception):
    """A step the child did not answer, or answered with an error."""


class JsonLineChild:
    def __init__(self, argv, label, new_session=False):
        self.label = label
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     start_new_session=new_session)
        self.answers = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("= "):
                self.answers.put(json.loads(line[2:]))
            else:
                print("  [%s] %s" % (self.label, line.rstrip()), flush=True)
        self.answers.put(None)  # the child exited

    def step(self, op, timeout=60, **args):
        try:
            self.proc.stdin.write(json.dumps(dict(args, op=op)) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # it exited; the answer queue says so
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise StepFailed("%s step %s: no answer in %d s" % (self.label, op, timeout)) from None
        if answer is None:
            self.proc.wait(10)
            raise StepFailed("the %s script exited (%s) during %s"
                             % (self.label, self.proc.returncode, op))
        if "error" in answer:
            raise StepFailed("%s step %s: %s" % (self.label, op, answer["error"]))
        return answer

    def quit(self, timeout):
        """Asks the script to quit and waits up to `timeout` s; True if it did."""
        try:
            self.proc.stdin.write('{"op": "quit"}\n')
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
