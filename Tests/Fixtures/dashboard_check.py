#!/usr/bin/env python3
"""Drives corral's dashboard in headless Chromium over the DevTools protocol (stdlib only).

usage: dashboard_check.py CHROMIUM URL EXPECTED_IDS END_ID SCREENSHOT [dark]
(with DASHBOARD_TOKEN set, the token is entered into the page's token form first)

Loads URL, waits until the session table shows exactly EXPECTED_IDS (comma-separated) and the
last hour's chart shows them (with no LiveKit workers panel: the test's corral has none), clicks
the End button of END_ID with a real mouse click, accepts the confirmation dialog, waits until
that row is gone, opens the first remaining session (process tree and log), and saves a
screenshot. Exits 0 on success, 1 with a message otherwise."""
import base64, contextlib, json, os, re, shutil, signal, socket, struct, subprocess, sys, tempfile, time, urllib.request


class DevTools:
    def __init__(self, ws_url):
        match = re.match(r"ws://([^:/]+):(\d+)(/.*)", ws_url)
        host, port, path = match.group(1), int(match.group(2)), match.group(3)
        self.sock = socket.create_connection((host, port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(4096)
        if b" 101 " not in response.split(b"\r\n")[0]:
            raise RuntimeError(f"websocket handshake failed: {response[:200]!r}")
        self.buffer = response.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0
        self.events = []

    def _recv_exact(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("devtools connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _receive(self):
        message = b""
        while True:
            first, second = self._recv_exact(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._recv_exact(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._recv_exact(8))[0]
            payload = self._recv_exact(length)
            opcode = first & 0x0F
            if opcode == 9:  # ping
                continue
            message += payload
            if first & 0x80:
                return json.loads(message)

    def _send(self, text):
        data = text.encode()
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([0x80 | len(data)])
        elif len(data) < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def call(self, method, **params):
        self.next_id += 1
        ident = self.next_id
        self._send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.on_event(message)

    def on_event(self, message):
        self.events.append(message.get("method"))
        if message.get("method") == "Page.javascriptDialogOpening":
            # Accept the End button's confirmation, as an operator would.
            self.next_id += 1
            self._send(json.dumps({"id": self.next_id, "method": "Page.handleJavaScriptDialog", "params": {"accept": True}}))

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")


def wait_until(condition, timeout=45, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


@contextlib.contextmanager
def chromium_page(chromium):
    """A headless Chromium of its own (a fresh profile), and the DevTools of its page; the
    browser is killed and its profile removed however the block ends."""
    profile = tempfile.mkdtemp(prefix="corral-chromium-")
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1360,760", "about:blank"],
        # Its temporary files (a singleton socket's directory, left by a killed browser) go in
        # the profile, removed with it.
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ, TMPDIR=profile),
        # A group of its own: its renderer and network processes are killed with it.
        start_new_session=True)
    try:
        port = None
        deadline = time.time() + 30
        while port is None and time.time() < deadline:
            line = browser.stderr.readline()
            match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if match:
                port = int(match.group(1))
        if port is None:
            raise RuntimeError("chromium did not start its DevTools endpoint")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        page = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        tools.call("Page.enable")
        tools.call("Runtime.enable")
        yield tools
    finally:
        _end_group(browser)
        # A process of the browser's that outlived the kill for a moment may have written into
        # the profile after a first removal: removed until it stays gone.
        deadline = time.time() + 30
        while os.path.exists(profile) and time.time() < deadline:
            shutil.rmtree(profile, ignore_errors=True)
            if os.path.exists(profile):
                time.sleep(0.1)


def _end_group(browser):
    """SIGKILL to the browser's process group, then waits (at most 30 s) until it is empty."""
    try:
        os.killpg(browser.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    browser.wait()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            os.killpg(browser.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def main():
    chromium, url, expected_ids, end_id, screenshot = sys.argv[1:6]
    dark = len(sys.argv) > 6 and sys.argv[6] == "dark"
    expected = sorted(expected_ids.split(","))
    tools = None
    try:
        with chromium_page(chromium) as tools:
            return check(tools, url, expected, end_id, screenshot, dark)
    except Exception as error:  # noqa: BLE001 - reported to the test
        print(f"dashboard check failed: {error}; devtools events: {sorted(set(e for e in getattr(tools, 'events', []) if e))}", file=sys.stderr)
        return 1


def check(tools, url, expected, end_id, screenshot, dark):
    if dark:
        tools.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
    tools.call("Page.navigate", url=url)
    token = os.environ.get("DASHBOARD_TOKEN")
    if token:
        # The page asks for the token: type it into the form as an operator would.
        wait_until(lambda: tools.evaluate("getComputedStyle(document.getElementById('token')).display") == "flex", what="the token form")
        tools.evaluate(f"document.getElementById('token-input').value = {json.dumps(token)}")
        tools.evaluate("document.querySelector('#token-form button').click()")
        # A request sent before the token was given and refused after it was: it goes again with
        # the token, and the form does not come back over the page (it did, under load: the
        # page's first requests answered late, and the End button could not be clicked).
        late = tools.evaluate(
            "(async () => { const given = sessionStorage.getItem('corral-token');"
            " sessionStorage.removeItem('corral-token'); const pending = api('/api/sessions');"
            " sessionStorage.setItem('corral-token', given); const response = await pending;"
            " return response.status + ' ' + getComputedStyle(document.getElementById('token')).display; })()")
        if late != "200 none":
            raise RuntimeError(f"a request refused after the token was given asked for it again: {late}")
    rows = "Array.from(document.querySelectorAll('tr.session')).map(r => r.dataset.id).sort().join(',')"
    wait_until(lambda: tools.evaluate(rows) == ",".join(expected), what=f"the table to list {expected}")
    wait_until(lambda: tools.evaluate("document.getElementById('live').className") == "on", what="the event stream")
    # The last hour's chart: sixty minutes, the current one showing the sessions listed.
    wait_until(lambda: tools.evaluate("document.querySelectorAll('#activity .minute').length") == 60, what="the activity chart")
    wait_until(lambda: tools.evaluate("document.querySelector('#activity .minute:last-child .bar.sessions').style.height") != "0%",
               what="the current minute's sessions in the chart")
    if tools.evaluate("document.getElementById('workers-section').style.display") != "none":
        raise RuntimeError("the LiveKit workers panel shows although corral has no workers")
    box = tools.evaluate(
        f"(() => {{ const r = document.querySelector('button.end[data-id=\"{end_id}\"]').getBoundingClientRect();"
        " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()")
    for kind in ("mousePressed", "mouseReleased"):
        tools.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)
    remaining = ",".join(i for i in expected if i != end_id)
    wait_until(lambda: tools.evaluate(rows) == remaining, what=f"{end_id} to leave the table")
    wait_until(lambda: tools.evaluate("document.getElementById('count-ended').textContent") == "1", what="the ended counter")
    # Open the first remaining session: its process tree and log load into the side panel.
    first = remaining.split(",")[0]
    cell = tools.evaluate(
        f"(() => {{ const r = document.querySelector('tr.session[data-id=\"{first}\"] td').getBoundingClientRect();"
        " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()")
    for kind in ("mousePressed", "mouseReleased"):
        tools.call("Input.dispatchMouseEvent", type=kind, x=cell["x"], y=cell["y"], button="left", clickCount=1)
    wait_until(lambda: tools.evaluate("document.getElementById('tree').textContent.length > 0"), what="the process tree")
    wait_until(lambda: tools.evaluate("document.getElementById('log').textContent.length > 0"), what="the log tail")
    tools.call("Input.dispatchMouseEvent", type="mouseMoved", x=0, y=0)
    shot = tools.call("Page.captureScreenshot", format="png")
    with open(screenshot, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print(json.dumps({"ok": True, "dialogs": tools.events.count("Page.javascriptDialogOpening")}))
    return 0 if "Page.javascriptDialogOpening" in tools.events else 1


if __name__ == "__main__":
    sys.exit(main())
