#!/usr/bin/env python3
"""Whether a page on another origin can show corral's dashboard in a frame (clickjacking: its End
buttons under that page, their requests same-origin), in headless Chromium over DevTools.

usage: framing_check.py CHROMIUM DASHBOARD_URL

Serves, on two ports of 127.0.0.1 of its own (two origins, neither corral's), a framing page
with two iframes: a control page from the other port, which allows framing, and the dashboard.
Waits until both frames have committed a document, then reads each: the control page must show
(so the check can see a framed document at all), and the dashboard must not (Chromium puts an
error page in its place). Exits 0 when the dashboard is refused its frame, 1 otherwise, with a
JSON line of what each frame held."""
import http.server, json, os, sys, threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_check import chromium_page, wait_until  # noqa: E402


def serve(pages):
    """An HTTP server on 127.0.0.1 answering `pages` (path -> HTML), in a thread of its own."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def frames(tools):
    """The framing page's child frames by name: {name: frame}."""
    tree = tools.call("Page.getFrameTree")["frameTree"]
    return {child["frame"].get("name"): child["frame"] for child in tree.get("childFrames", [])}


def document_of(tools, frame):
    """The title and address of the document a frame holds, read in a world of the check's own."""
    try:
        world = tools.call("Page.createIsolatedWorld", frameId=frame["id"], worldName="framing-check")
        result = tools.call("Runtime.evaluate", expression="({title: document.title, href: location.href, buttons: document.querySelectorAll('button').length})",
                            contextId=world["executionContextId"], returnByValue=True)
        return result.get("result", {}).get("value")
    except RuntimeError as error:
        return {"unreadable": str(error)}


def main():
    chromium, dashboard = sys.argv[1:3]
    control = serve({"/inner": "<!doctype html><title>control</title><p>a page that may be framed</p>"})
    framer = None
    try:
        inner = f"http://127.0.0.1:{control.server_address[1]}/inner"
        framer = serve({"/": "<!doctype html><title>framer</title>"
                             f'<iframe name="control" src="{inner}" width="400" height="300"></iframe>'
                             f'<iframe name="dashboard" src="{dashboard}" width="1200" height="700"></iframe>'})
        with chromium_page(chromium) as tools:
            tools.call("Page.navigate", url=f"http://127.0.0.1:{framer.server_address[1]}/")

            def settled():
                found = frames(tools)
                target = found.get("dashboard", {})
                committed = target.get("url", "about:blank") not in ("", "about:blank")
                shown = (document_of(tools, found["control"]) or {}).get("title") == "control" if "control" in found else False
                return found if committed and shown else None

            found = wait_until(settled, timeout=30, what="both frames to hold a document")
            target = found["dashboard"]
            held = document_of(tools, target)
            report = {"control": document_of(tools, found["control"]), "dashboard_frame_url": target.get("url"),
                      "dashboard_frame_unreachable_url": target.get("unreachableUrl"), "dashboard_frame_document": held}
            print(json.dumps(report))
            refused = target.get("url") != dashboard and (held or {}).get("title") != "corral" and (held or {}).get("buttons", 0) == 0
            if not refused:
                print("the dashboard shows in a frame of another origin's page", file=sys.stderr)
            return 0 if refused else 1
    except Exception as error:  # noqa: BLE001 - reported to the test
        print(f"framing check failed: {error}", file=sys.stderr)
        return 1
    finally:
        control.shutdown()
        if framer:
            framer.shutdown()


if __name__ == "__main__":
    sys.exit(main())
