import json, signal, subprocess, sys, time, hashlib
from pathlib import Path
import numpy as np, pytest
from fake_openai import FakeOpenAI
from zsc_nb.prompting import (parse_pairs, parse_common_features, get_prompts, OpenAIChat, ScriptedChat, create_llm,
                              TURN_GROUP, TURN_MORE, GEN_PLAIN, redact)
from zsc_nb.errors import AuthError, ConfigError, DataError
from zsc_nb.generation import (generate_references, OpenAIImages, ProceduralImages, DiffusersImages, CostGuardError,
                               read_manifest, references_dir, class_slug, png_bytes)
from zsc_nb.references import import_references, load_references

KEY = 'sk-test-SECRETKEY-0123456789abcdef'

@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv('OPENAI_API_KEY', KEY); monkeypatch.delenv('OPENAI_BASE_URL', raising=False)
    return KEY

def files_containing(root, needle):
    return [p for p in Path(root).rglob('*') if p.is_file() and needle.encode() in p.read_bytes()]

CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
DIALOGUE = [
    ('ok', "Sure! Here is an analysis of each class:\n1. **Airplane**: wings, fuselage...\n2. **Automobile**: four wheels..."),
    ('ok', "Here are the groups:\n\n1. **Cat and Dog** - Both are four-legged furry mammals with tails.\n"
           "2. Automobile & Truck: both have wheels, headlights and a cabin.\n3. airplane and bird – Both have wings and fly.\n\nHope this helps!"),
    ('ok', "Yes:\n- Deer / Horse — Both are hoofed animals with long legs\n- frogs vs. lizards - small and green"),
    ('ok', "No"),
    ('ok', "Both cat and dog have fur coats, four legs, pointed ears, and long tails."),
    ('ok', "both automobile and truck have:\n1. Four or more wheels\n2. Headlights\n3. A windshield"),
    ('ok', "Both airplane and bird have wings, a streamlined body, a tail section."),
    ('ok', "Both deer and horse have long slender legs, hooves, a brown coat."),
]

def test_dialogue_through_the_openai_sdk(tmp_path, key):
    with FakeOpenAI(chat=DIALOGUE) as srv:
        llm = OpenAIChat(model='gpt-test', base_url=srv.base_url)
        art = get_prompts('cifar10', CLASSES, llm, root=tmp_path)
    assert [(p['a'], p['b']) for p in art['pairs']] == [('cat', 'dog'), ('automobile', 'truck'), ('airplane', 'bird'), ('deer', 'horse')]
    assert any('lizard' in d['why'] for d in art['dropped'])                 # not a class: dropped, never invented
    assert art['pairs'][1]['features'] == ['Four or more wheels', 'Headlights', 'A windshield']
    assert art['prompts']['cat'] == 'generate an image of cat that has fur coats, four legs, pointed ears, long tails. As realistic as possible. More fit for life.'
    assert art['prompts']['ship'] == GEN_PLAIN.format(c='ship')
    users = [m['content'] for m in art['transcript'] if m['role'] == 'user']
    assert users[0].startswith("Please analyze the appearance characteristics of these classes ['airplane', 'automobile'")
    assert users[1] == TURN_GROUP and users[2] == users[3] == TURN_MORE and len(users) == 8
    assert len(srv.requests) == 8 and srv.requests[-1][1]['messages'][0]['content'] == users[0]   # one conversation
    assert all(r[2] == f'Bearer {key}' for r in srv.requests)
    assert (art['backend'], art['model']) == ('openai', 'gpt-test')
    assert not files_containing(tmp_path, key)

def test_more_turn_is_capped(tmp_path, key):
    replies = [('ok', 'analysis'), ('ok', 'cat and dog - furry')] + [('ok', 'cat and dog - furry again')] * 10
    with FakeOpenAI(chat=replies) as srv:
        art = get_prompts('cifar10', CLASSES, OpenAIChat(model='m', base_url=srv.base_url), root=tmp_path, max_more=3)
    assert sum(1 for m in art['transcript'] if m['content'] == TURN_MORE) == 3 and len(art['pairs']) == 1

def test_artifact_is_reused_and_refreshable(tmp_path):
    a = get_prompts('x', ['cat', 'dog'], ScriptedChat(['..', 'cat and dog - fur', 'no', 'Both cat and dog have fur.']), root=tmp_path)
    empty = ScriptedChat([])
    assert get_prompts('x', ['cat', 'dog'], empty, root=tmp_path) == a and empty.i == 0
    b = get_prompts('x', ['cat', 'dog'], ScriptedChat([]), root=tmp_path, refresh=True)
    assert b['pairs'] == [] and b['prompts']['cat'] == GEN_PLAIN.format(c='cat')

C = ['desk', 'dining_table', 'cat', 'dog', 'automobile', 'truck', 'sea', 'sea_slug', 'butterfly', 'moth', "potter's_wheel",
     'go-kart', 'European_fire_salamander', 'lesser_panda']
PARSER_CASES = [
    ("desk and dining_table - Both have flat horizontal surfaces with legs for support", [('desk', 'dining_table')]),
    ("1. desk and dining table - flat tops\n2) cat and dog: fur", [('desk', 'dining_table'), ('cat', 'dog')]),
    ("* **Cat** & **Dog** — furry\n• Automobile / Truck – wheels", [('cat', 'dog'), ('automobile', 'truck')]),
    ("Cats vs dogs - both furry", [('cat', 'dog')]),
    ("Butterflies and moths - scaled wings", [('butterfly', 'moth')]),
    ("| Class A | Class B | Similarity |\n|:--|:--|:--|\n| desk | dining_table | flat |\n| Cat | Dog | fur |", [('desk', 'dining_table'), ('cat', 'dog')]),
    ("Here you go!\n\ncat and dog - fur\n\nLet me know if you want more.", [('cat', 'dog')]),
    ("No", []), ("no.", []), ("No, there are no other combinations.", []), ("**No**", []),
    ("cat and dog - a\ndog and cat - b\ncat and dog - c", [('cat', 'dog')]),
    ("cat and cat - same", []),
    ("cat, dog and desk - group of three", [('cat', 'dog'), ('cat', 'desk'), ('dog', 'desk')]),
    ("potters wheel and go kart - both spin", [("potter's_wheel", 'go-kart')]),
    ("European fire salamander and lesser panda - both have orange", [('European_fire_salamander', 'lesser_panda')]),
    ("Sea slug and sea - ocean", [('sea_slug', 'sea')]),
    ("desk and chair - both have legs", []),
    ("Group 1: cat and dog - furry", [('cat', 'dog')]),
    ("CAT AND DOG: FURRY", [('cat', 'dog')]),
]

@pytest.mark.parametrize('text,want', PARSER_CASES)
def test_parse_pairs_table(text, want):
    assert [(p.a, p.b) for p in parse_pairs(text, C)] == want

def test_parse_pairs_logs_dropped_names():
    dropped = []; parse_pairs("desk and chair - both have legs\ncat and wolf - fur", C, dropped)
    assert {w for d in dropped for w in ['chair', 'wolf'] if w in d['why']} == {'chair', 'wolf'}

@pytest.mark.parametrize('text,want', [
    ("Both cat and dog have fur, four legs and a tail.", ['fur', 'four legs', 'a tail']),
    ("both cat and dog have A soft coat, B whiskers, C tails…", ['A soft coat', 'B whiskers', 'C tails']),
    ("Sure. Both Cat and Dog share pointed ears; wet noses; fur. They are pets.", ['pointed ears', 'wet noses', 'fur']),
    ("Both have:\n- fur\n- four legs\n- tails", ['fur', 'four legs', 'tails']),
    ("1. **Fur**: dense\n2. **Legs**: four", ['Fur: dense', 'Legs: four']),
])
def test_parse_common_features(text, want):
    assert parse_common_features(text, 'cat', 'dog') == want

PROMPTS = {c: f'generate an image of {c}. As realistic as possible. More fit for life.' for c in ['cat', 'dog', 'ship']}

def test_retries_429_500_malformed_badb64_then_success(tmp_path, key):
    script = [('429', 0.3), ('500',), ('malformed',), ('badb64',)]
    with FakeOpenAI(images=script) as srv:
        gen = OpenAIImages('dall-e-3', base_url=srv.base_url)
        t = time.time()
        rep = generate_references({'cat': PROMPTS['cat']}, 'c10', gen, k=1, root=tmp_path, retry_base=0.01, progress=False)
        assert rep.ok and len(srv.requests) == 5 and time.time() - t >= 0.3      # Retry-After honoured
        assert srv.requests[0][1]['response_format'] == 'b64_json' and srv.requests[0][1]['model'] == 'dall-e-3'
    rec = read_manifest(references_dir('c10', 'openai', tmp_path))[('cat', 0)]
    assert rec['revised_prompt'].startswith('revised: ') and rec['model'] == 'dall-e-3' and len(rec['sha256']) == 64
    assert not files_containing(tmp_path, key)

def test_a_failed_image_is_recorded_and_the_rest_continue(tmp_path, key):
    prompts = dict(PROMPTS, bird='ALWAYS_FAIL bird')
    with FakeOpenAI() as srv:
        rep = generate_references(prompts, 'c10', OpenAIImages('gpt-image-1.5', base_url=srv.base_url), k=2, root=tmp_path,
                                  max_retries=2, retry_base=0.01, progress=False)
    assert sorted(rep.missing) == [('bird', 0), ('bird', 1)] and len(rep.made) == 6
    assert 'response_format' not in srv.requests[0][1]             # GPT image models always answer base64

def test_requests_overlap(tmp_path, key):
    with FakeOpenAI(delay=0.3) as srv:
        t = time.time()
        rep = generate_references(PROMPTS, 'c10', OpenAIImages('fake-image-model', base_url=srv.base_url, size='64x64', price_per_image=0.0), k=3, root=tmp_path, concurrency=4, progress=False)
        took = time.time() - t
    assert rep.ok and srv.max_inflight >= 3 and took < 9 * 0.3 * 0.7

def test_cost_guard(tmp_path, key, capsys):
    with FakeOpenAI() as srv:
        gen = OpenAIImages('dall-e-3', base_url=srv.base_url)
        many = {f'c{i}': 'p' for i in range(20)}
        with pytest.raises(CostGuardError, match='--yes'): generate_references(many, 'x', gen, k=2, root=tmp_path, progress=False)
        assert srv.requests == [] and '40 image request(s)' in capsys.readouterr().out
        assert generate_references(many, 'x', gen, k=2, root=tmp_path, yes=True, progress=False).ok

def test_key_is_redacted_from_errors_and_files(tmp_path, key):
    with FakeOpenAI(chat=[('401',)]) as srv:
        with pytest.raises(AuthError, match='OPENAI_API_KEY') as e:
            get_prompts('y', ['cat', 'dog'], OpenAIChat(model='m', base_url=srv.base_url), root=tmp_path)
    assert key not in str(e.value) and key not in repr(e.value) and e.value.__cause__ is None and '***' in str(e.value)
    assert redact(f'token {key}!') == 'token ***!'
    assert not files_containing(tmp_path, key)

def test_no_key_no_server_is_a_clear_error(monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False); monkeypatch.delenv('OPENAI_BASE_URL', raising=False)
    monkeypatch.setattr('zsc_nb.api_models.load_dotenv', lambda *a, **k: {})
    with pytest.raises(ValueError, match='OPENAI_API_KEY'): OpenAIChat()
    with pytest.raises(ValueError, match='OPENAI_API_KEY'): OpenAIImages()
    assert create_llm('auto') is None
    with pytest.raises(ConfigError, match='unknown LLM backend'): create_llm('claude-web')

KILL_SCRIPT = """
import sys
from zsc_nb.data import SHAPES_CLASSES
from zsc_nb.generation import generate_references, ProceduralImages
generate_references({c: 'p ' + c for c in SHAPES_CLASSES}, 'shapes', ProceduralImages(delay=0.15), k=2, root=sys.argv[1], progress=False)
"""

def test_kill_midway_and_resume(tmp_path):
    from zsc_nb.data import SHAPES_CLASSES
    folder = references_dir('shapes', 'procedural', tmp_path); mf = folder/'manifest.jsonl'
    p = subprocess.Popen([sys.executable, '-c', KILL_SCRIPT, str(tmp_path)])
    t = time.time()
    while (not mf.exists() or len(mf.read_text().splitlines()) < 5) and time.time() - t < 60: time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    done = len(mf.read_text().splitlines()); assert 5 <= done < 24
    rep = generate_references({c: 'p ' + c for c in SHAPES_CLASSES}, 'shapes', ProceduralImages(), k=2, root=tmp_path, progress=False)
    assert rep.ok and len(rep.reused) >= 5 and len(rep.made) + len(rep.reused) == 24
    lines = [json.loads(l) for l in mf.read_text().splitlines()]
    assert len(lines) == 24 and len({(r['class'], r['k']) for r in lines}) == 24         # none lost, no duplicate
    for r in lines:                                                                      # none corrupt
        f = folder/r['file']; assert hashlib.sha256(f.read_bytes()).hexdigest() == r['sha256']
    assert not list(folder.rglob('*.part'))
    refs = load_references('shapes', 'procedural', SHAPES_CLASSES, root=tmp_path)
    assert len(refs.items) == 24 and refs.k.max() == 1

def test_damaged_image_is_redrawn(tmp_path):
    P = {'circle': 'p', 'ring': 'p'}
    r = generate_references(P, 'd', ProceduralImages(), k=1, root=tmp_path, progress=False)
    assert r.ok
    f = r.folder/f"{class_slug('circle')}/0.png"; f.write_bytes(b'garbage')
    r2 = generate_references(P, 'd', ProceduralImages(), k=1, root=tmp_path, progress=False)
    assert r2.made == [('circle', 0)] and r2.reused == [('ring', 0)]

def test_slugs_are_safe_and_distinct():
    names = ['../../x', 'a/b', 'Desk', 'desk', 'desk.', 'de sk', '', ][:-1]
    slugs = [class_slug(n) for n in names]
    assert len(set(slugs)) == len(slugs) and all('/' not in s and '..' not in s for s in slugs)
    with pytest.raises(ValueError): class_slug('')

def test_import_authors_folder_and_mapping(tmp_path):
    src = tmp_path/'src'; src.mkdir(); rng = np.random.default_rng(0)
    for n in ['dining_table.png', 'dining_table1.png', 'sea_slug.png', 'cat.jpg', 'readme.txt', 'unknown.png']:
        (src/n).write_bytes(png_bytes(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)) if n.endswith('.png') else b'x')
    from PIL import Image; Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(src/'cat.jpg')
    rep = import_references(src, ['dining_table', 'sea_slug', 'sea', 'cat', 'dog'], 'ds', root=tmp_path/'refs')
    assert rep['imported'] == 4 and rep['unmatched'] == ['unknown.png'] and rep['classes_without_reference'] == ['sea', 'dog']
    again = import_references(src, ['dining_table', 'sea_slug', 'sea', 'cat', 'dog'], 'ds', root=tmp_path/'refs')
    assert again['imported'] == 0 and again['total'] == 4 and len(again['duplicates']) == 4   # idempotent, and says so
    rep2 = import_references(src, ['sea', 'dog'], 'ds2', mapping={'unknown.png': 'dog', 'sea_slug.png': 'sea'}, root=tmp_path/'refs')
    assert rep2['imported'] == 2
    with pytest.raises(DataError, match='no reference image'): load_references('ds', 'imported', ['dog'], root=tmp_path/'refs')

def _tiny_sd_pipeline(tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel, AutoencoderKL, EulerDiscreteScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    chars = [chr(i) for i in range(33, 127)]
    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1}
    for c in chars: vocab.setdefault(c, len(vocab)); vocab.setdefault(c + '</w>', len(vocab))
    (tmp_path/'vocab.json').write_text(json.dumps(vocab)); (tmp_path/'merges.txt').write_text('#version: 0.2\n')
    tok = CLIPTokenizer(str(tmp_path/'vocab.json'), str(tmp_path/'merges.txt'), model_max_length=77)
    torch.manual_seed(0)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
                                        num_attention_heads=4, num_hidden_layers=2, vocab_size=len(vocab)))
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
                                down_block_types=('DownBlock2D', 'CrossAttnDownBlock2D'), up_block_types=('CrossAttnUpBlock2D', 'UpBlock2D'),
                                cross_attention_dim=32, norm_num_groups=32)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3, down_block_types=['DownEncoderBlock2D'] * 2,
                        up_block_types=['UpDecoderBlock2D'] * 2, latent_channels=4, norm_num_groups=32)
    return StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=EulerDiscreteScheduler(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)

def test_diffusers_backend_with_a_tiny_pipeline(tmp_path):
    pipe = _tiny_sd_pipeline(tmp_path)
    gen = DiffusersImages('tiny/sd-turbo', size=32, pipeline=pipe)
    assert (gen.steps, gen.guidance) == (1, 0.0)                       # turbo defaults
    rep = generate_references({'cat': PROMPTS['cat'], 'dog': PROMPTS['dog']}, 'c10', gen, k=1, root=tmp_path, progress=False)
    assert rep.ok
    man = read_manifest(rep.folder)
    assert man[('cat', 0)]['size'] == '32x32' and man[('cat', 0)]['backend'] == 'diffusers'

def test_cli_references_exits_non_zero_listing_missing(tmp_path, key, capsys):
    from zsc_nb.cli import main
    with FakeOpenAI(images=[('429', 0)] * 6) as srv:       # the first image is refused six times (all retries)
        rc = main(['references', '--dataset', 'cifar10', '--llm', 'none', '--generator', 'openai', '--base-url', srv.base_url,
                   '--k', '1', '--concurrency', '1', '--yes', '--root', str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1 and '1 image(s) missing' in err and 'airplane #0' in err
    assert len(read_manifest(references_dir('cifar10', 'openai', tmp_path/'references'))) == 9
    assert not files_containing(tmp_path, key)
    with FakeOpenAI() as srv:                              # rerun: only the missing one is requested
        rc = main(['references', '--dataset', 'cifar10', '--llm', 'none', '--generator', 'openai', '--base-url', srv.base_url,
                   '--k', '1', '--root', str(tmp_path)])
    assert rc == 0 and len(srv.requests) == 1

def test_cli_scripted_smoke_chain(tmp_path):
    from zsc_nb.cli import main
    assert main(['references', '--dataset', 'shapes', '--llm', 'scripted', '--generator', 'procedural', '--k', '2', '--root', str(tmp_path)]) == 0
    art = json.loads((tmp_path/'prompts'/'shapes.json').read_text())
    assert art['backend'] == 'scripted' and 'not a real LLM' in art['note'] and len(art['pairs']) == 5
    assert len(read_manifest(references_dir('shapes', 'procedural', tmp_path/'references'))) == 24

def test_transformers_backend_uses_the_chat_messages():
    from zsc_nb.prompting import TransformersChat, run_dialogue
    seen = []
    def pipe(messages, **kw):            # stands in for transformers.pipeline('text-generation'): same call and output shape
        seen.append((list(messages), kw))
        reply = {1: '...', 2: 'cat and dog - both furry', 3: 'no'}.get(len(seen), 'Both cat and dog have fur, tails.')
        return [{'generated_text': reply}]
    llm = TransformersChat('tiny/instruct', pipeline=pipe)
    art = run_dialogue(['cat', 'dog', 'ship'], llm)
    assert [(p['a'], p['b']) for p in art['pairs']] == [('cat', 'dog')] and art['pairs'][0]['features'] == ['fur', 'tails']
    assert seen[1][0][-1] == {'role': 'user', 'content': TURN_GROUP} and seen[1][0][1]['role'] == 'assistant'
    assert seen[0][1]['do_sample'] is False and seen[0][1]['return_full_text'] is False
