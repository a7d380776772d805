"""Today's image and chat APIs against the fake server (tests/fake_openai.py): current model names, base64 and url
answers, null content, model_not_found, insufficient_quota, retired models, an interrupted dialogue resumed."""
import json, logging, time, warnings
from pathlib import Path
import pytest
from fake_openai import FakeOpenAI
from zsc_nb.api_models import sdk_models, sdk_deprecations, default_model, model_status, image_request, IMAGE_PRICES
from zsc_nb.cli import main
from zsc_nb.errors import ConfigError, APIRefusal, APIExhausted
from zsc_nb.prompting import OpenAIChat, QuotaError, get_prompts, prompts_path
from zsc_nb.generation import generate_references, OpenAIImages, read_manifest, references_dir

KEY = 'sk-canary-today-0123456789abcdef'
C10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
DIALOGUE = [('ok', 'analysis'), ('ok', 'cat and dog - Both are furry'), ('ok', 'no'), ('ok', 'Both cat and dog have fur, four legs.')]
P2 = {'cat': 'generate an image of cat.', 'dog': 'generate an image of dog.'}

@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv('ZSC_NB_RETRY_BASE', '0.005'); monkeypatch.setenv('OPENAI_API_KEY', KEY)
    monkeypatch.delenv('OPENAI_BASE_URL', raising=False); monkeypatch.delenv('ZSC_NB_DEBUG', raising=False)

def no_key_in(root, *texts):
    assert not [p for p in Path(root).rglob('*') if p.is_file() and KEY.encode() in p.read_bytes()] and not any(KEY in str(t) for t in texts)

# ---- defaults come from the installed SDK, and are never a model it marks
def test_defaults_are_current_models_of_the_installed_sdk():
    for kind in ('image', 'chat'):
        d = default_model(kind)
        assert d in sdk_models(kind) and d not in sdk_deprecations(kind) and model_status(kind, d)['status'] == 'current'
    assert model_status('image', 'dall-e-3')['status'] == 'retired' and model_status('image', 'gpt-image-1')['status'] == 'retired'
    assert model_status('chat', 'gpt-4o')['status'] in ('announced', 'retired')          # the paper's chat model: shutdown announced
    assert any(m == default_model('image') for (m, _, _) in IMAGE_PRICES)                 # the cost guard has its price
    assert OpenAIChat().model == default_model('chat') and OpenAIImages().model == default_model('image')

def test_a_retired_model_is_refused_before_any_request(capsys):
    with pytest.raises(ConfigError, match=r"retired.*--image-model"): OpenAIImages('dall-e-3')
    with pytest.raises(ConfigError, match=r"retired.*--chat-model"): OpenAIChat('gpt-3.5-turbo')
    rc = main(['references', '--dataset', 'cifar10', '--llm', 'none', '--generator', 'openai', '--image-model', 'dall-e-2'])
    err = capsys.readouterr().err
    assert rc == 2 and '--image-model' in err and err.count('\n') == 1

def test_each_model_gets_its_own_parameters():
    with pytest.raises(ConfigError, match='--size'): OpenAIImages('gpt-image-1.5', size='1792x1024')
    with pytest.raises(ConfigError, match='--quality'): OpenAIImages('gpt-image-1-mini', quality='standard')

# ---- the current API, served by the fake
def test_current_gpt_image_model_base64(tmp_path):
    with FakeOpenAI(current=True) as srv:
        rep = generate_references(P2, 'c10', OpenAIImages(base_url=srv.base_url), k=1, root=tmp_path, progress=False)
    body = srv.image_requests[0][1]
    assert rep.ok and len(srv.image_requests) == 2
    assert body['model'] == default_model('image') and 'response_format' not in body and body['output_format'] == 'png'
    assert body['size'] == '1024x1024' and body['quality'] == 'medium'
    assert read_manifest(rep.folder)[('cat', 0)]['size'] == '1024x1024'

def test_url_answers_are_fetched_once_with_the_same_checks(tmp_path):
    with FakeOpenAI(url_answers=True) as srv:
        rep = generate_references(P2, 'c10', OpenAIImages('local-image', size='64x64', base_url=srv.base_url, price_per_image=0), k=2,
                                  root=tmp_path, progress=False)
        assert rep.ok and len(srv.image_requests) == 4 and len(srv.gets) == 4          # one paid request per image, each fetched once
    with FakeOpenAI(images=[('url404',), ('url', ), ('tiny',)]) as srv:               # an expired url: asked again; then a 1x1: asked again
        rep = generate_references({'cat': 'p'}, 'c11', OpenAIImages('local-image', size='64x64', base_url=srv.base_url, price_per_image=0),
                                  k=2, root=tmp_path, progress=False, concurrency=1)
        assert rep.ok and len(srv.image_requests) == 4
    for r in read_manifest(rep.folder).values(): assert r['size'] == '64x64'

def test_model_not_found_is_one_line_naming_the_option(tmp_path, capsys):
    many = {f'c{i}': 'p' for i in range(6)}
    with FakeOpenAI(current=True) as srv:                                            # dall-e-3 on today's API: 404 model_not_found
        with pytest.raises(ConfigError, match=r"has no model 'dall-e-3'.*--image-model") as e:
            generate_references(many, 'c10', OpenAIImages('dall-e-3', base_url=srv.base_url), k=2, root=tmp_path, progress=False,
                                concurrency=2, yes=True)
        assert len(srv.image_requests) <= 2                                           # no retries, nothing asked after it
    assert 'refused permanently' not in str(e.value) and 'edit its prompt' not in str(e.value)
    with FakeOpenAI(current=True) as srv:
        rc = main(['references', '--dataset', 'cifar10', '--llm', 'none', '--generator', 'openai', '--image-model', 'dall-e-3',
                   '--base-url', srv.base_url, '--k', '1', '--yes', '--root', str(tmp_path)])
    err = capsys.readouterr().err.split('\n')[-2]                                   # the last line (a progress bar may come before)
    assert rc == 2 and err.startswith('zsc-nb: error: ') and '--image-model' in err and 'refused permanently' not in err
    with FakeOpenAI(chat=[('model_not_found',)]) as srv:
        rc = main(['prompts', '--dataset', 'cifar10', '--llm', 'openai', '--chat-model', 'gpt-nope', '--base-url', srv.base_url, '--root', str(tmp_path)])
        assert len(srv.requests) == 1
    err = capsys.readouterr().err
    assert rc == 2 and "has no model 'gpt-nope'" in err and '--chat-model' in err and err.count('\n') == 1
    no_key_in(tmp_path, err)

def test_a_rejected_parameter_stops_at_once_instead_of_refusing_every_class(tmp_path):
    many = {f'c{i}': 'p' for i in range(6)}
    with FakeOpenAI(images=[('badparam',)] * 50) as srv:
        with pytest.raises(ConfigError, match=r"rejected a parameter.*--image-model") as e:
            generate_references(many, 'c10', OpenAIImages('local-image', size='64x64', quality='ultra', base_url=srv.base_url, price_per_image=0),
                                k=2, root=tmp_path, progress=False, concurrency=2)
        assert len(srv.image_requests) <= 2
    assert 'refused permanently' not in str(e.value)

def test_insufficient_quota_stops_at_once(tmp_path, capsys):
    many = {f'c{i}': 'p' for i in range(6)}
    with FakeOpenAI(images=[('insufficient_quota',)] * 50) as srv:
        with pytest.raises(QuotaError, match='no quota or credit') as e:
            generate_references(many, 'c10', OpenAIImages('local-image', size='64x64', base_url=srv.base_url, price_per_image=0), k=2,
                                root=tmp_path, progress=False, concurrency=2)
        assert len(srv.image_requests) <= 2
    assert 'server is up' not in str(e.value) and 'billing' in str(e.value)
    with FakeOpenAI(chat=[('insufficient_quota',)] * 10) as srv:
        rc = main(['prompts', '--dataset', 'cifar10', '--llm', 'openai', '--base-url', srv.base_url, '--root', str(tmp_path)])
        assert len(srv.requests) == 1
    err = capsys.readouterr().err
    assert rc == 1 and 'no quota or credit' in err and err.count('\n') == 1 and not prompts_path('cifar10', tmp_path/'prompts').exists()

# ---- chat: null content, refusals, temperature, resume
@pytest.mark.parametrize('fault', [[('null',)], [('refusal', 'I cannot help with that.')], [('ok', '   ')]])
def test_a_null_or_refused_reply_is_retried(tmp_path, fault):
    with FakeOpenAI(chat=fault + DIALOGUE) as srv:
        art = get_prompts('c10', C10, OpenAIChat(base_url=srv.base_url), root=tmp_path)
    assert len(srv.requests) == 5 and [(p['a'], p['b']) for p in art['pairs']] == [('cat', 'dog')]
    assert all((m['content'] or '').strip() for m in art['transcript'])

def test_a_reply_null_every_time_is_apirefusal_and_nothing_empty_is_saved(tmp_path, capsys):
    with FakeOpenAI(chat=[('ok', 'analysis')] + [('null',)] * 10) as srv:
        with pytest.raises(APIRefusal, match='gave no answer'):
            get_prompts('c10', C10, OpenAIChat(base_url=srv.base_url), root=tmp_path)
    assert not (tmp_path/'c10.json').exists()
    part = json.loads((tmp_path/'c10.partial.json').read_text())                    # the finished turn is kept, nothing empty
    assert [m['role'] for m in part['transcript']] == ['user', 'assistant'] and part['transcript'][1]['content'] == 'analysis'
    with FakeOpenAI(chat=[('null',)] * 10) as srv:
        rc = main(['prompts', '--dataset', 'cifar10', '--llm', 'openai', '--base-url', srv.base_url, '--root', str(tmp_path/'d')])
    out, err = capsys.readouterr()
    assert rc == 1 and 'APIRefusal' not in err and 'gave no answer' in err and '0 pair(s)' not in out
    assert not list((tmp_path/'d').rglob('*.json'))

def test_an_interrupted_dialogue_resumes_from_its_finished_turns(tmp_path):
    with FakeOpenAI(chat=DIALOGUE[:2] + [('500',)] * 10) as srv:                    # dies after two finished turns
        with pytest.raises(APIExhausted):
            get_prompts('c10', C10, OpenAIChat(base_url=srv.base_url, max_retries=2), root=tmp_path)
    assert len(json.loads((tmp_path/'c10.partial.json').read_text())['transcript']) == 4
    with FakeOpenAI(chat=DIALOGUE[2:]) as srv:
        art = get_prompts('c10', C10, OpenAIChat(base_url=srv.base_url), root=tmp_path)
        assert len(srv.requests) == 2                                               # only the two unfinished turns are asked
        assert len(srv.requests[0][1]['messages']) == 5                             # in the same conversation
    assert art['resumed_turns'] == 2 and [(p['a'], p['b']) for p in art['pairs']] == [('cat', 'dog')]
    assert not (tmp_path/'c10.partial.json').exists() and len(art['transcript']) == 8

def test_an_old_artifact_with_an_empty_reply_is_not_reused(tmp_path):
    with FakeOpenAI(chat=DIALOGUE) as srv:
        art = get_prompts('c10', C10, OpenAIChat(base_url=srv.base_url), root=tmp_path)
    art['transcript'][3]['content'] = ''; (tmp_path/'c10.json').write_text(json.dumps(art))
    with FakeOpenAI(chat=DIALOGUE) as srv:
        again = get_prompts('c10', C10, OpenAIChat(base_url=srv.base_url), root=tmp_path)
        assert len(srv.requests) == 4
    assert all(m['content'] for m in again['transcript'])

def test_a_model_without_temperature_gets_its_default(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    with FakeOpenAI(chat=DIALOGUE, no_temperature=True) as srv:
        art = get_prompts('c10', C10, OpenAIChat(base_url=srv.base_url), root=tmp_path)
    assert len(art['pairs']) == 1 and 'temperature' not in srv.requests[-1][1] and 'using its default' in caplog.text

# ---- local backends: the arguments their installed versions document
def test_transformers_chat_with_a_tiny_random_model_warns_nothing(tmp_path):
    transformers = pytest.importorskip('transformers'); tokenizers = pytest.importorskip('tokenizers')
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, LlamaConfig, LlamaForCausalLM, GenerationConfig
    from zsc_nb.prompting import TransformersChat
    words = ['<pad>', '<s>', '</s>', '<unk>', 'user', 'assistant', ':', 'cat', 'dog', 'and', '-', 'fur', 'no', 'both', 'have']
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token='<unk>')); tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token='<s>', eos_token='</s>', pad_token='<pad>', unk_token='<unk>')
    tok.chat_template = "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} </s> {% endfor %}{% if add_generation_prompt %}assistant : {% endif %}"
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0))
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0, do_sample=True, temperature=0.7, top_p=0.9)
    model.save_pretrained(tmp_path/'tiny'); tok.save_pretrained(tmp_path/'tiny')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        llm = TransformersChat(str(tmp_path/'tiny'), device='cpu', max_new_tokens=4)
        try: text = llm.chat([{'role': 'user', 'content': 'cat and dog'}])
        except APIRefusal: text = None                                    # a random model may emit only </s>: that is not saved
    assert text is None or isinstance(text, str)
    cfg = llm._generation_config()
    assert cfg.do_sample is False and cfg.temperature is None and cfg.max_new_tokens == 4

def test_sd_turbo_is_loaded_as_its_model_card_shows(monkeypatch):
    pytest.importorskip('diffusers'); import torch, diffusers
    from zsc_nb import generation
    calls = []
    class Pipe:
        def to(self, dev): return self
    def fake(model, **kw): calls.append((model, kw)); return Pipe()
    monkeypatch.setattr(diffusers.AutoPipelineForText2Image, 'from_pretrained', staticmethod(fake))
    monkeypatch.setattr(generation, 'resolve_device', lambda d: (torch.device('cuda'), 'cuda'))
    g = generation.DiffusersImages('stabilityai/sd-turbo', device='cuda')
    assert calls == [('stabilityai/sd-turbo', dict(torch_dtype=torch.float16, variant='fp16'))] and (g.steps, g.guidance) == (1, 0.0)
    calls.clear(); monkeypatch.setattr(generation, 'resolve_device', lambda d: (torch.device('cpu'), 'cpu'))
    generation.DiffusersImages('stabilityai/sd-turbo', device='cpu')
    assert calls == [('stabilityai/sd-turbo', dict(torch_dtype=torch.float32))]
