"""Tiny models built at test time for the comparison tests (no network), and checks of the builders.

- `build_sentencepiece`: an XLM-RoBERTa-style model with a Unigram (SentencePiece) tokenizer and a
  Metaspace pre-tokenizer ("▁" word starts), `<s> A </s></s> B </s>`: the third tokenizer family
  beside WordPiece (tests/tiny_models.py: DistilBERT, BERT) and byte-level BPE (RoBERTa, GPT-2).
- `build_multilingual_wordpiece`: a cased multilingual WordPiece (BERT's pre-tokenizer puts every
  CJK character on its own, like bert-base-multilingual-cased) on a DistilBERT.
- `build_multilingual_bpe`: byte-level BPE on the same corpus, on a GPT-2 (no special tokens).
- `planted_pair`: two DistilBERTs with different random weights, except that head `source` of
  layer 0 in A and head `target` of layer 0 in B compute exactly the same attention.
- `finetuned_copy`: a copy of a model with the query/key weights of some heads changed (a
  fine-tuned model against its base, where only those heads moved).

Every model goes through the app's own loader (`core.models.loading.load_from_source`).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from core.attention.extract import extract
from core.models.loading import LoadedModel, load_from_source
from tests.sentences import TUTORIAL_SENTENCES
from tests.tiny_models import BPE_CORPUS

MULTILINGUAL_CORPUS = [
    *BPE_CORPUS,
    "我喜欢猫。", "我喜欢狗和猫。", "猫坐在垫子上。", "我们喜欢学习语言。", "东京和北京是城市。",
    "東京に行きました。", "猫がマットの上に座った。", "私は日本語を勉強しています。", "東京は大きい都市です。",
    "القطة جلست على الحصيرة.", "أحب القطط والكلاب.", "ذهبت إلى المدرسة اليوم.", "القطة نائمة.",
    "החתול ישב על השטיח.", "אני אוהב חתולים וכלבים.", "הלכתי לבית הספר היום.", "החתול ישן.",
    "The lawyer questioned the witness because she was lying.",
    "The lawyer questioned the witness because he was lying.",
]
ZH = "我喜欢猫。"
JA = "東京に行きました。"
AR = "القطة جلست على الحصيرة."
HE = "החתול ישב על השטיח."


def _quiet() -> None:
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def build_sentencepiece(root: Path, corpus: list[str] = MULTILINGUAL_CORPUS, *, seed: int = 7) -> LoadedModel:
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    _quiet()
    folder = Path(root) / "tiny-sentencepiece"
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tk = Tokenizer(models.Unigram())
    tk.normalizer = normalizers.NFKC()
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=specials, unk_token="<unk>",
                                      show_progress=False)
    tk.train_from_iterator(corpus, trainer=trainer)
    bos, eos = tk.token_to_id("<s>"), tk.token_to_id("</s>")
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                  cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                  model_max_length=64)
    tok.model_input_names = ["input_ids", "attention_mask"]
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = XLMRobertaConfig(vocab_size=tk.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=66,
                           type_vocab_size=1, pad_token_id=tk.token_to_id("<pad>"), bos_token_id=bos,
                           eos_token_id=eos)
    XLMRobertaModel(cfg, add_pooling_layer=False).save_pretrained(folder)
    return load_from_source(str(folder), model_id="tiny-sentencepiece", device="cpu", local_only=True)


def build_multilingual_wordpiece(root: Path, corpus: list[str] = MULTILINGUAL_CORPUS, *, seed: int = 7,
                                 n_heads: int = 2, name: str = "tiny-mwordpiece") -> LoadedModel:
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import DistilBertConfig, DistilBertModel, PreTrainedTokenizerFast

    _quiet()
    folder = Path(root) / name
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tk = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                               strip_accents=False, lowercase=False)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=700, special_tokens=specials, show_progress=False)
    tk.train_from_iterator(corpus, trainer=trainer)
    cls, sep = tk.token_to_id("[CLS]"), tk.token_to_id("[SEP]")
    tk.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, cls_token="[CLS]", sep_token="[SEP]", unk_token="[UNK]",
                                  pad_token="[PAD]", mask_token="[MASK]", model_max_length=128)
    tok.model_input_names = ["input_ids", "attention_mask"]
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = DistilBertConfig(vocab_size=tk.get_vocab_size(), n_layers=2, n_heads=n_heads, dim=32, hidden_dim=64,
                           max_position_embeddings=128, pad_token_id=0)
    DistilBertModel(cfg).save_pretrained(folder)
    return load_from_source(str(folder), model_id=name, device="cpu", local_only=True)


def build_multilingual_bpe(root: Path, corpus: list[str] = MULTILINGUAL_CORPUS, *, seed: int = 7) -> LoadedModel:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    _quiet()
    folder = Path(root) / "tiny-mbpe"
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(corpus, trainer=trainer)
    eot = tk.token_to_id("<|endoftext|>")
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                  unk_token="<|endoftext|>", model_max_length=64)
    tok.model_input_names = ["input_ids", "attention_mask"]
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=tk.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                     n_inner=64, bos_token_id=eot, eos_token_id=eot)
    GPT2Model(cfg).save_pretrained(folder)
    return load_from_source(str(folder), model_id="tiny-mbpe", device="cpu", local_only=True)


def _head_rows(head: int, d_head: int) -> slice:
    return slice(head * d_head, (head + 1) * d_head)


def planted_pair(root: Path, *, source: int = 0, target: int = 2, n_heads: int = 4) -> tuple[LoadedModel, LoadedModel]:
    """Two DistilBERTs (2 layers x n_heads, one tokenizer) with different random weights, except
    that B's embeddings equal A's and B's layer-0 head `target` has A's layer-0 head `source`
    query/key weights: those two heads compute identical attention on any text."""
    import torch
    from transformers import DistilBertModel

    a = build_multilingual_wordpiece(root, seed=11, n_heads=n_heads, name="tiny-planted-a")
    ma = a.model
    torch.manual_seed(12)
    mb = DistilBertModel(ma.config).eval()
    for p in mb.parameters():
        p.requires_grad_(False)
    d_head = ma.config.dim // n_heads
    with torch.no_grad():
        mb.embeddings.load_state_dict(ma.embeddings.state_dict())
        la, lb = ma.transformer.layer[0].attention, mb.transformer.layer[0].attention
        src, dst = _head_rows(source, d_head), _head_rows(target, d_head)
        for name in ("q_lin", "k_lin"):
            getattr(lb, name).weight[dst] = getattr(la, name).weight[src]
            getattr(lb, name).bias[dst] = getattr(la, name).bias[src]
    b = LoadedModel(info=dataclasses.replace(a.info, model_id="tiny-planted-b"), tokenizer=a.tokenizer, model=mb)
    return a, b


def finetuned_copy(base: LoadedModel, changes: dict[int, list[int]], *, scale: float = 3.0,
                   seed: int = 5) -> LoadedModel:
    """A copy of `base` whose query/key weights of the heads in `changes` ({layer: [heads]}) get
    random noise `scale` times their size; every other weight is the base's."""
    import torch

    model = copy.deepcopy(base.model)
    n_heads = model.config.n_heads
    d_head = model.config.dim // n_heads
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer, heads in changes.items():
            att = model.transformer.layer[layer].attention
            for h in heads:
                rows = _head_rows(h, d_head)
                for name in ("q_lin", "k_lin"):
                    w = getattr(att, name).weight
                    noise = torch.randn(w[rows].shape, generator=gen) * float(w[rows].std()) * scale
                    w[rows] += noise
    info = dataclasses.replace(base.info, model_id=base.info.model_id + "-finetuned")
    return LoadedModel(info=info, tokenizer=base.tokenizer, model=model)


# --- fixtures shared by the comparison tests ----------------------------------------------------

@pytest.fixture(scope="session")
def compare_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("compare_models")


@pytest.fixture(scope="session")
def tiny_sentencepiece(compare_dir):
    return build_sentencepiece(compare_dir)


@pytest.fixture(scope="session")
def tiny_mwordpiece(compare_dir):
    return build_multilingual_wordpiece(compare_dir)


@pytest.fixture(scope="session")
def tiny_mbpe(compare_dir):
    return build_multilingual_bpe(compare_dir)


# --- the builders do what they say ---------------------------------------------------------------

def test_sentencepiece_builder_is_a_third_tokenizer_family(tiny_sentencepiece):
    r = extract(tiny_sentencepiece, TUTORIAL_SENTENCES[0], "Second text.")
    assert r.tokens[0] == "<s>" and r.tokens[-1] == "</s>"
    assert any(t.startswith("▁") for t in r.tokens)
    assert list(r.tokens).count("</s>") == 3  # <s> A </s></s> B </s>
    assert len(r.offsets) == r.n_tokens and r.offsets[0] is None


def test_multilingual_wordpiece_splits_cjk_characters(tiny_mwordpiece):
    r = extract(tiny_mwordpiece, JA)
    pieces = [t for t, s in zip(r.tokens, r.special_mask) if not s]
    assert pieces[:2] == ["東", "京"]


def test_planted_heads_are_identical_and_others_are_not(compare_dir):
    a, b = planted_pair(compare_dir)
    ra, rb = extract(a, TUTORIAL_SENTENCES[0]), extract(b, TUTORIAL_SENTENCES[0])
    assert ra.token_ids == rb.token_ids
    np.testing.assert_allclose(ra.attention[0, 0], rb.attention[0, 2], atol=1e-6)
    assert np.abs(ra.attention[0, 1] - rb.attention[0, 1]).max() > 1e-3


def test_finetuned_copy_changes_only_the_chosen_heads(tiny_mwordpiece):
    tuned = finetuned_copy(tiny_mwordpiece, {1: [1]})
    ra, rb = extract(tiny_mwordpiece, TUTORIAL_SENTENCES[1]), extract(tuned, TUTORIAL_SENTENCES[1])
    assert np.abs(ra.attention[1, 1] - rb.attention[1, 1]).max() > 1e-3
    np.testing.assert_allclose(ra.attention[1, 0], rb.attention[1, 0], atol=1e-6)
    np.testing.assert_allclose(ra.attention[0], rb.attention[0], atol=1e-6)
