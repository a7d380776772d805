"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 (random port) for offline tests and fault injection.

Serves POST /v1/chat/completions and /v1/images/generations. Each endpoint pops the next action from its script;
when the script is empty it answers normally. Actions:
  ('ok', text)         chat reply text (chat) / an image of the requested size (images)
  ('429', seconds)     rate limited, with a Retry-After header
  ('500',) ('503',)    server errors
  ('slow', seconds)    answer normally after a delay
  ('malformed',)       HTTP 200 with a body that is not JSON
  ('empty',)           HTTP 200 with an empty `choices` (chat) or `data` (images) list
  ('cut',)             headers promise a body, half of it is sent, then the connection is closed
  ('badb64',)          images: b64_json that is not base64
  ('text',)            images: base64 of a text file, not an image
  ('truncated',)       images: the first half of a PNG
  ('tiny',)            images: a valid 1x1 PNG
  ('jpeg',)            images: a JPEG of the requested size (decodable, but not a PNG)
  ('policy',)          HTTP 400 content_policy_violation (a permanent refusal)
  ('401',) ('403',)    authentication errors that echo the key they were sent (as some servers do)
  ('url',)             images: the image as a `url` on this server (GET /files/<n>.png) instead of b64_json
  ('url404',)          images: a `url` that answers 404 (expired)
  ('null',)            chat: `content` null (what a refusal looks like); ('refusal', text): null content and `refusal`
  ('model_not_found',) HTTP 404 code model_not_found;  ('insufficient_quota',) HTTP 429 code insufficient_quota
  ('badparam',)        HTTP 400 invalid_value for `quality` (a parameter the model does not take)
Today's API (`current=True`): a model the installed SDK marks retired (dall-e-3, gpt-image-1, …) gets 404
model_not_found, and a GPT image model given `response_format` gets 400, as OpenAI answers. `url_answers=True` makes
every image answer a url (a server that never sends base64); `no_temperature=True` answers 400 to a chat request
that sets `temperature` (as reasoning models do).
A prompt containing 'ALWAYS_FAIL' always gets 500; one containing 'POLICY_REFUSE' always gets the policy refusal.
`max_inflight` records how many requests overlapped; `requests` lists (path, body, authorization header).
"""
import base64, io, json, re, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
import numpy as np

from functools import lru_cache

def _png(seed, size=(16, 16), fmt='PNG'): return _png_cached(seed % 16, tuple(size), fmt)

@lru_cache(maxsize=64)
def _png_cached(seed, size, fmt):
    "A quick-to-encode image of `size` (a colour ramp, seeded), PNG or JPEG bytes."
    from PIL import Image
    w, h = size; rng = np.random.default_rng(seed)
    base = rng.integers(0, 200, 3)
    ramp = (np.add.outer(np.arange(h), np.arange(w)) * 55 // max(1, w + h)).astype(np.int64)
    a = np.clip(base[None, None, :] + ramp[..., None], 0, 255).astype(np.uint8)
    buf = io.BytesIO(); Image.fromarray(a).save(buf, format=fmt); return buf.getvalue()

def _size(body):
    m = re.fullmatch(r'(\d+)x(\d+)', str(body.get('size', '16x16')))
    return (int(m.group(1)), int(m.group(2))) if m else (16, 16)

class FakeOpenAI:
    def __init__(self, chat=(), images=(), delay=0.0, current=False, url_answers=False, no_temperature=False):
        self.chat_script, self.image_script, self.delay = list(chat), list(images), delay
        self.current, self.url_answers, self.no_temperature, self.files, self.gets = current, url_answers, no_temperature, {}, []
        self.lock = threading.Lock(); self.inflight = 0; self.max_inflight = 0
        self.requests = []   # (path, json body, authorization header)
        srv = self
        class H(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            def log_message(self, *a): pass
            def do_GET(self):
                srv.gets.append(self.path)
                data = srv.files.get(self.path)
                self.send_response(200 if data else 404); self.send_header('content-type', 'image/png' if data else 'text/plain')
                self.send_header('content-length', str(len(data or b'gone'))); self.end_headers(); self.wfile.write(data or b'gone')
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get('content-length', 0))) or b'{}')
                with srv.lock:
                    srv.requests.append((self.path, body, self.headers.get('authorization')))
                    srv.inflight += 1; srv.max_inflight = max(srv.max_inflight, srv.inflight)
                    script = srv.chat_script if 'chat' in self.path else srv.image_script
                    action = script.pop(0) if script else ('ok',)
                try: srv._answer(self, body, action)
                except (BrokenPipeError, ConnectionResetError): pass        # the client gave up (timeout): fine
                finally:
                    with srv.lock: srv.inflight -= 1
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.root_url = self.base_url[:-3]

    def _retired(self, model, kind):
        if not self.current or not model: return False
        from zsc_nb.api_models import model_status
        return model_status(kind, model)['status'] == 'retired'

    @property
    def image_requests(self): return [r for r in self.requests if 'images' in r[0]]

    def _send(self, h, code, payload, headers=(), cut=False):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h.send_response(code); h.send_header('content-type', 'application/json'); h.send_header('content-length', str(len(data)))
        for k, v in headers: h.send_header(k, v)
        h.end_headers()
        if cut:                                                          # half the body, then the connection dies
            h.wfile.write(data[:len(data) // 2]); h.wfile.flush(); h.close_connection = True
            import socket
            try: h.connection.shutdown(socket.SHUT_RDWR)
            except OSError: pass
            return
        h.wfile.write(data)

    def _answer(self, h, body, action):
        kind = action[0]
        if self.delay: time.sleep(self.delay)
        text_body = json.dumps(body)
        if 'ALWAYS_FAIL' in text_body: kind = '500'
        if 'POLICY_REFUSE' in text_body: kind = 'policy'
        if kind == 'slow': time.sleep(action[1]); kind = 'ok'; action = ('ok',)
        if kind == '429': return self._send(h, 429, {'error': {'message': 'Rate limit reached', 'type': 'rate_limit_error'}}, [('retry-after', str(action[1]))])
        if kind in ('500', '503'): return self._send(h, int(kind), {'error': {'message': 'The server had an error', 'type': 'server_error'}})
        if kind in ('401', '403'):
            key = (h.headers.get('authorization') or '').replace('Bearer ', '')
            return self._send(h, int(kind), {'error': {'message': f'Incorrect API key provided: {key}', 'type': 'invalid_request_error', 'code': 'invalid_api_key'}})
        if kind == 'policy':
            return self._send(h, 400, {'error': {'message': 'Your request was rejected as a result of our safety system.', 'type': 'invalid_request_error',
                                                 'code': 'content_policy_violation', 'param': None}})
        chat = 'chat' in h.path
        if chat and self.no_temperature and 'temperature' in body:
            return self._send(h, 400, {'error': {'message': "Unsupported value: 'temperature' does not support 0.0 with this model. Only the default (1) value is supported.",
                                                 'type': 'invalid_request_error', 'param': 'temperature', 'code': 'unsupported_value'}})
        if kind == 'model_not_found' or self._retired(body.get('model'), 'chat' if chat else 'image'):
            return self._send(h, 404, {'error': {'message': f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                                                 'type': 'invalid_request_error', 'param': None, 'code': 'model_not_found'}})
        if kind == 'badparam':
            return self._send(h, 400, {'error': {'message': "Invalid value: 'ultra'. Supported values are: 'low', 'medium', 'high', and 'auto'.",
                                                 'type': 'invalid_request_error', 'param': 'quality', 'code': 'invalid_value'}})
        if kind == 'insufficient_quota':
            return self._send(h, 429, {'error': {'message': 'You exceeded your current quota, please check your plan and billing details.',
                                                 'type': 'insufficient_quota', 'param': None, 'code': 'insufficient_quota'}})
        if self.current and not chat and str(body.get('model', '')).startswith('gpt-image') and 'response_format' in body:
            return self._send(h, 400, {'error': {'message': "Unknown parameter: 'response_format'.", 'type': 'invalid_request_error',
                                                 'param': 'response_format', 'code': 'unknown_parameter'}})
        if kind == 'malformed': return self._send(h, 200, b'{"data": [ this is not json')
        if kind == 'empty':
            return self._send(h, 200, {'id': 'x', 'object': 'chat.completion', 'created': 0, 'model': body.get('model'), 'choices': []} if chat
                              else {'created': 0, 'data': []})
        if chat:
            text = None if kind in ('null', 'refusal') else action[1] if len(action) > 1 else 'no'
            msg = {'role': 'assistant', 'content': text, 'refusal': action[1] if kind == 'refusal' else None}
            return self._send(h, 200, {'id': 'chatcmpl-fake', 'object': 'chat.completion', 'created': 0, 'model': body.get('model'),
                                       'choices': [{'index': 0, 'message': msg, 'finish_reason': 'stop'}],
                                       'usage': {'prompt_tokens': 1, 'completion_tokens': 1, 'total_tokens': 2}}, cut=kind == 'cut')
        size, seed = _size(body) if body.get('size') != 'auto' else (1024, 1024), len(self.requests)
        raw = {'text': b'this is a text file, not an image\n', 'truncated': _png(seed, size)[:60], 'tiny': _png(seed, (1, 1)),
               'jpeg': _png(seed, size, 'JPEG')}.get(kind) or _png(seed, size)
        if kind in ('url', 'url404') or self.url_answers:
            path = f"/files/{len(self.requests)}-{seed}.png"
            if kind != 'url404': self.files[path] = raw
            return self._send(h, 200, {'created': 0, 'data': [{'url': self.root_url + path, 'revised_prompt': 'revised: ' + body.get('prompt', '')}]})
        b64 = '!!!not-base64!!!' if kind == 'badb64' else base64.b64encode(raw).decode()
        return self._send(h, 200, {'created': 0, 'data': [{'b64_json': b64, 'revised_prompt': 'revised: ' + body.get('prompt', '')}]}, cut=kind == 'cut')

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True).start(); return self
    def __exit__(self, *a):
        self.httpd.shutdown(); self.httpd.server_close()
