"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 (random port) for offline tests.

Serves POST /v1/chat/completions and /v1/images/generations. Each endpoint pops the next action from its script;
when the script is empty it answers normally. Actions:
  ('ok', text)         chat reply text (chat) / an image (images)
  ('429', seconds)     rate limited, with a Retry-After header
  ('500',)             server error
  ('slow', seconds)    answer normally after a delay
  ('malformed',)       HTTP 200 with a body that is not JSON
  ('badb64',)          images: b64_json that is not base64
  ('401',)             authentication error that echoes the key it was sent (as some servers do)
A prompt containing 'ALWAYS_FAIL' always gets 500. `max_inflight` records how many requests overlapped.
"""
import base64, io, json, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
import numpy as np

def _png(seed):
    from PIL import Image
    rng = np.random.default_rng(seed)
    buf = io.BytesIO(); Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buf, format='PNG')
    return buf.getvalue()

class FakeOpenAI:
    def __init__(self, chat=(), images=(), delay=0.0):
        self.chat_script, self.image_script, self.delay = list(chat), list(images), delay
        self.lock = threading.Lock(); self.inflight = 0; self.max_inflight = 0
        self.requests = []   # (path, json body, authorization header)
        srv = self
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get('content-length', 0))) or b'{}')
                with srv.lock:
                    srv.requests.append((self.path, body, self.headers.get('authorization')))
                    srv.inflight += 1; srv.max_inflight = max(srv.max_inflight, srv.inflight)
                    script = srv.chat_script if 'chat' in self.path else srv.image_script
                    action = script.pop(0) if script else ('ok',)
                try: srv._answer(self, body, action)
                finally:
                    with srv.lock: srv.inflight -= 1
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _send(self, h, code, payload, headers=()):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h.send_response(code); h.send_header('content-type', 'application/json'); h.send_header('content-length', str(len(data)))
        for k, v in headers: h.send_header(k, v)
        h.end_headers(); h.wfile.write(data)

    def _answer(self, h, body, action):
        kind = action[0]
        if self.delay: time.sleep(self.delay)
        if 'ALWAYS_FAIL' in json.dumps(body): kind = '500'
        if kind == 'slow': time.sleep(action[1]); kind = 'ok'; action = ('ok',)
        if kind == '429': return self._send(h, 429, {'error': {'message': 'Rate limit reached', 'type': 'rate_limit_error'}}, [('retry-after', str(action[1]))])
        if kind == '500': return self._send(h, 500, {'error': {'message': 'The server had an error', 'type': 'server_error'}})
        if kind == '401':
            key = (h.headers.get('authorization') or '').replace('Bearer ', '')
            return self._send(h, 401, {'error': {'message': f'Incorrect API key provided: {key}', 'type': 'invalid_request_error', 'code': 'invalid_api_key'}})
        if kind == 'malformed': return self._send(h, 200, b'{"data": [ this is not json')
        if 'chat' in h.path:
            text = action[1] if len(action) > 1 else 'no'
            return self._send(h, 200, {'id': 'chatcmpl-fake', 'object': 'chat.completion', 'created': 0, 'model': body.get('model'),
                                       'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': 'stop'}],
                                       'usage': {'prompt_tokens': 1, 'completion_tokens': 1, 'total_tokens': 2}})
        b64 = '!!!not-base64!!!' if kind == 'badb64' else base64.b64encode(_png(len(self.requests))).decode()
        return self._send(h, 200, {'created': 0, 'data': [{'b64_json': b64, 'revised_prompt': 'revised: ' + body.get('prompt', '')}]})

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start(); return self
    def __exit__(self, *a):
        self.httpd.shutdown(); self.httpd.server_close()
