"""Progress display for jobs followed with Client.train(wait=True): in a Jupyter notebook an
updating IPython display, on a terminal one line rewritten in place, otherwise (logs, pipes) the
job's log lines as they come. No third-party dependency (IPython only when it is running)."""
import shutil
import sys


def _notebook():
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        shell = ipython.get_ipython()
    except AttributeError:
        return None
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return None
    try:
        from IPython.display import display
    except ImportError:
        return None
    return display


class Progress:
    """Shows log lines of one job. `enabled` False shows nothing; `stream` defaults to stderr."""

    def __init__(self, enabled=True, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._display = _notebook() if enabled else None
        self._handle = None
        self._tty = enabled and self._display is None and hasattr(self.stream, "isatty") \
            and self.stream.isatty()
        self._open_line = False
        self.count = 0  # lines given to line(), shown or not

    def line(self, text):
        """Shows one log line (replacing the previous one on a TTY or in a notebook)."""
        self.count += 1
        if not self.enabled:
            return
        if self._display is not None:
            if self._handle is None:
                self._handle = self._display(text, display_id=True)
            else:
                self._handle.update(text)
            return
        if self._tty:
            width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
            self.stream.write("\r" + text[:width] + "\x1b[K")
            self.stream.flush()
            self._open_line = True
            return
        self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, text=None):
        """Ends the display, with a last line when given."""
        if not self.enabled:
            return
        if text is not None:
            self.line(text)
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
