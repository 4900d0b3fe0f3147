#!/usr/bin/python3
"""Drives headless Chromium as a user would, for the status page tests.

Talks the DevTools protocol over a pipe (--remote-debugging-pipe: NUL-separated JSON on
fds 3 and 4), so it needs nothing beyond Python's standard library. Opens URL, then runs
STEPS (a JSON list) in order:
  ["type", SELECTOR, TEXT]        empty and focus the field, type TEXT (Input.insertText)
  ["click", SELECTOR]             mouse press and release at the element's centre
  ["wait", SELECTOR, TEXT]        until the element's text contains TEXT (15 s)
  ["screenshot", PATH]            PNG of the viewport
  ["dom", PATH]                   document.documentElement.outerHTML
Exit 0 when every step passed; else 1 with the failing step and the DOM on stderr.

usage: browser.py CHROMIUM PROFILE_DIR URL STEPS_JSON
"""
import base64
import json
import os
import subprocess
import sys
import time


class Browser:
    def __init__(self, chromium, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def wire():  # in the child: the protocol's fds are 3 (in) and 4 (out)
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--hide-scrollbars", "--window-size=1400,1300", "--remote-debugging-pipe",
             "--user-data-dir=" + profile, "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(profile + ".stderr", "wb"))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.from_chrome, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, browser_level=False, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not browser_level:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(method + ": " + json.dumps(m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait_event(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == method:
                    del self.events[i]
                    return e
            self.events.append(self._read_message(deadline))

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError("script failed: " + json.dumps(r["exceptionDetails"]))
        return r["result"].get("value")

    def open(self, url):
        target = self.call("Target.createTarget", {"url": "about:blank"}, True)["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True}, True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def element_centre(self, selector):
        r = self.evaluate(
            "(() => { const e = document.querySelector(%s); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const b = e.getBoundingClientRect();"
            " return [b.left + b.width / 2, b.top + b.height / 2]; })()" % json.dumps(selector))
        if not r:
            raise RuntimeError("no element matches " + selector)
        return r

    def click(self, selector):
        x, y = self.element_centre(selector)
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent",
                      {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def type(self, selector, text):
        # Replaces what the field held, as select-all and typing would.
        if not self.evaluate("(() => { const e = document.querySelector(%s); if (!e) return false;"
                             " e.value = ''; e.focus(); return true; })()" % json.dumps(selector)):
            raise RuntimeError("no element matches " + selector)
        self.call("Input.insertText", {"text": text})

    def wait_text(self, selector, text, timeout=15):
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.evaluate("(() => { const e = document.querySelector(%s);"
                                 " return e ? e.textContent : null; })()" % json.dumps(selector))
            if seen is not None and text in seen:
                return
            time.sleep(0.1)
        raise RuntimeError("%s never contained %r (last: %r)" % (selector, text, seen))

    def close(self):
        try:
            self.call("Browser.close", browser_level=True, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    chromium, profile, url, steps = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    b = Browser(chromium, profile)
    step = ["open", url]
    try:
        b.open(url)
        for step in steps:
            kind = step[0]
            if kind == "type":
                b.type(step[1], step[2])
            elif kind == "click":
                b.click(step[1])
            elif kind == "wait":
                b.wait_text(step[1], step[2])
            elif kind == "screenshot":
                png = base64.b64decode(b.call("Page.captureScreenshot", {"format": "png"})["data"])
                with open(step[1], "wb") as f:
                    f.write(png)
            elif kind == "dom":
                with open(step[1], "w") as f:
                    f.write(b.evaluate("document.documentElement.outerHTML"))
            else:
                raise RuntimeError("unknown step " + kind)
            print("done: " + json.dumps(step[:2]), flush=True)
        return 0
    except Exception as e:
        print("step %s failed: %s" % (json.dumps(step[:2]), e), file=sys.stderr)
        try:
            print(b.evaluate("document.documentElement.outerHTML")[:20000], file=sys.stderr)
        except Exception:
            pass
        return 1
    finally:
        b.close()


if __name__ == "__main__":
    sys.exit(main())
