"""A generative vision-language model of polymodal's own: an image encoder whose tokens a
projector maps into the input space of a small causal language model, which writes text after
them (the design of LLaVA and PaliGemma).

A conversation is a list of segments, each an image or a text; a text is either read (a
prompt, a question) or written (an answer: the tokens training teaches). Several images may
stand anywhere in it (in-context examples), and the previous turns of a chat are simply
earlier segments. Every written text ends in <eos>.

With `prefix` (the default) everything before the first answer (the image and the first
prompt) is one block whose positions all attend to each other; what follows is causal.

Decoding (`generate`): greedy, beam search, or sampling with a temperature and top-p, up to
`max_new_tokens`, ending at <eos> or at a stop string. The keys and values of everything read
so far are cached, so each new token runs the model over one position.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.chat import ChatModel, Decoding, Message, Reply, check_chat, cut_at
from ..core.config import Config
from ..core.errors import ConfigError, InputError
from ..encoders.registry import build_encoder
from ..layers import mlp
from ..processors.text import CLS, PAD, WordTokenizer, join_words, split_words
from .base import Pretrained
from .registry import MODEL_KINDS

EOS, USER, ASSISTANT = "<eos>", "<user>", "<assistant>"
SPECIALS = [PAD, CLS, EOS, USER, ASSISTANT]
IGNORE = -100            # a target the loss leaves out (images, prompts, padding)
IMAGE = -1               # in a batch's ids: a position an image's token takes
LOCATION_BINS = 32       # a box is written as four location words, loc0 .. loc31


@dataclass
class VLMConfig(Config):
    image_encoder: dict          # {"name": registry name, "config": kwargs}
    vocab: list[str]             # words (built from data); the SPECIALS first
    dim: int = 128
    layers: int = 4
    heads: int = 4
    max_positions: int = 256     # image tokens and words of a whole conversation
    dropout: float = 0.0
    prefix: bool = True          # the image and the first prompt attend to each other both ways (PaliGemma's
                                 # prefix-LM), so image tokens are read in the light of the question; False:
                                 # causal throughout (LLaVA)
    task: str = "vlm"


@dataclass
class Segment:
    """One piece of a conversation: an image (as the model's image processor gives it, a
    [3, H, W] tensor) or a text."""

    image: torch.Tensor | None = None
    text: str | None = None
    written: bool = False        # a text the model writes (taught in training); else read


class DecoderBlock(nn.Module):
    """Pre-norm causal self-attention and MLP, with a key/value cache for decoding."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ConfigError(f"vlm: dim {dim} is not a multiple of heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = mlp([dim, 4 * dim, dim], dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        """x [B, T, D]; allowed [B, 1, T, past + T]: which keys each query may attend to.
        cache: {"k", "v"} of the positions before x, extended in place."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                                  dropout_p=self.dropout if self.training else 0.0)
        x = x + self.out(attended.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm2(x))


@MODEL_KINDS.register("vlm")
class VisionLanguageModel(Pretrained, ChatModel):
    kind = "vlm"
    config_class = VLMConfig
    listener = "asr-spoken-world"      # spoken questions of its world, written down by the world's recogniser

    def __init__(self, config: VLMConfig):
        super().__init__()
        config.vocab = SPECIALS + [w for w in config.vocab if w not in SPECIALS]
        self.config = config
        self.tokenizer = WordTokenizer(config.vocab, config.max_positions)
        self.eos = self.tokenizer.index[EOS]
        self.image_encoder = build_encoder(config.image_encoder, "image_encoder")
        self.projector = nn.Sequential(nn.Linear(self.image_encoder.dim, config.dim), nn.GELU(),
                                       nn.Linear(config.dim, config.dim))
        self.embed = nn.Embedding(len(config.vocab), config.dim, padding_idx=0)
        self.pos = nn.Embedding(config.max_positions, config.dim)
        self.blocks = nn.ModuleList(DecoderBlock(config.dim, config.heads, config.dropout)
                                    for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)
        # the output layer is the word embeddings themselves (as in GPT-2 and PaliGemma): a word
        # that appears only in a prompt (an in-context example's code) can still be written
        self.word_bias = nn.Parameter(torch.zeros(len(config.vocab)))
        for table in (self.embed, self.pos):          # small, as GPT-2 starts them: tied logits start near 0
            nn.init.normal_(table.weight, std=0.02)
        with torch.no_grad():
            self.embed.weight[0].zero_()                # <pad> stays the zero vector
        with torch.no_grad():       # how many tokens an image becomes (the encoder's grid or patches)
            blank = self.image_encoder.processor([np.zeros((32, 32, 3), np.uint8)])
            self.image_tokens = int(self.image_encoder.eval()(blank).tokens.shape[1])
        self.image_encoder.train()

    @property
    def modalities(self) -> list[str]:
        return ["image", "text"]

    # -- conversations to tensors ----------------------------------------------------
    def words(self, text: str) -> list[int]:
        """A text's word ids (no <cls>); an unknown word is an input error naming it."""
        return self.tokenizer.encode(text)[1:]

    def assemble(self, conversations: list[list[Segment]], answer_next: bool = False) -> dict:
        """Conversations -> the tensors forward takes, right-padded: {"images" [N, 3, H, W] (if
        any), "ids" [B, T] (each position's token; IMAGE where an image's tokens go, 0 for
        padding), "mask" [B, T] real positions, "prefix" [B, T] the positions before the first
        <assistant>, "targets" [B, T] (the next token to write, or IGNORE)}. A read text is preceded by <user>; a written one by <assistant> and followed by
        <eos>, and only its words and <eos> are targets. answer_next: each row ends in
        <assistant>, for the model to write after."""
        images, rows, targets = [], [], []
        for conv in conversations:
            ids, taught = [], []
            for s in conv:
                if s.image is not None:
                    images.append(s.image)
                    ids += [IMAGE] * self.image_tokens
                    taught += [False] * self.image_tokens
                    continue
                words = self.words(s.text or "")
                if s.written:
                    ids += [self.tokenizer.index[ASSISTANT]] + words + [self.eos]
                    taught += [False] + [True] * (len(words) + 1)
                else:
                    ids += [self.tokenizer.index[USER]] + words
                    taught += [False] * (len(words) + 1)
            if answer_next:
                ids.append(self.tokenizer.index[ASSISTANT])
                taught.append(False)
            rows.append(ids)
            # position i is taught token i + 1 when that token is one the model writes
            targets.append([ids[i + 1] if taught[i + 1] else IGNORE for i in range(len(ids) - 1)] + [IGNORE])
        longest = max(len(r) for r in rows)
        if longest > self.config.max_positions:
            raise InputError(f"a conversation of {longest} positions (image tokens and words); this model takes "
                             f"{self.config.max_positions}")
        batch = {"ids": torch.zeros(len(rows), longest, dtype=torch.long),
                 "mask": torch.zeros(len(rows), longest, dtype=torch.bool),
                 "prefix": torch.zeros(len(rows), longest, dtype=torch.bool),
                 "targets": torch.full((len(rows), longest), IGNORE, dtype=torch.long)}
        assistant = self.tokenizer.index[ASSISTANT]
        for i, (r, t) in enumerate(zip(rows, targets)):
            batch["ids"][i, :len(r)], batch["mask"][i, :len(r)] = torch.tensor(r), True
            batch["prefix"][i, :r.index(assistant) if assistant in r else len(r)] = True
            batch["targets"][i, :len(t)] = torch.tensor(t)
        if images:
            batch["images"] = torch.stack(images)
        return {k: v.to(self.pos.weight.device) for k, v in batch.items()}

    def inputs(self, batch: dict) -> torch.Tensor:
        """The input vectors [B, T, D]: word embeddings, and each image's projected tokens in
        its IMAGE positions (images in the order they stand, row after row)."""
        ids = batch["ids"]
        x = self.word_vectors(ids.clamp(min=0))
        if "images" in batch:
            tokens = self.projector(self.image_encoder(batch["images"]).tokens)
            x = x.masked_scatter((ids == IMAGE).unsqueeze(-1), tokens.to(x.dtype))
        return x

    def word_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        """Words as inputs: their embeddings times sqrt(dim), as Gemma (PaliGemma's language
        model) does. The tied embeddings stay small (they are the output layer too), and
        unscaled a word is no larger than its position's embedding and an order of magnitude
        below a projected image token, so which colour a question names is barely seen."""
        return self.embed(ids) * self.config.dim ** 0.5

    # -- the language model ----------------------------------------------------------
    def run(self, x: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, caches: list[dict] | None = None,
            past_mask: torch.Tensor | None = None, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits [B, T, V] for x [B, T, D] at `positions` [B, T]; with caches,
        after the positions already cached (past_mask [B, P]: which of them are real).
        prefix [B, T]: positions that attend to each other both ways (only in a first call:
        what is cached later is never prefix)."""
        b, t, _ = x.shape
        keys = mask if past_mask is None else torch.cat([past_mask, mask], 1)
        past = keys.shape[1] - t
        causal = torch.ones(t, keys.shape[1], dtype=torch.bool, device=x.device).tril(past)
        itself = torch.zeros(t, keys.shape[1], dtype=torch.bool, device=x.device)
        itself[torch.arange(t), past + torch.arange(t)] = True      # a padding position attends to itself alone,
        allowed = (causal.unsqueeze(0) & keys.unsqueeze(1)) | itself    # never to nothing (NaN)
        if prefix is not None and self.config.prefix and past == 0:
            allowed = allowed | (prefix.unsqueeze(2) & prefix.unsqueeze(1))
        allowed = allowed.unsqueeze(1)
        h = x + self.pos(positions.clamp(max=self.config.max_positions - 1))
        for i, block in enumerate(self.blocks):
            h = block(h, allowed, None if caches is None else caches[i])
        return F.linear(self.norm(h), self.embed.weight, self.word_bias)

    def forward(self, batch: dict) -> torch.Tensor:
        """Teacher forcing over assembled conversations: logits [B, T, V]."""
        positions = (batch["mask"].long().cumsum(1) - 1).clamp(min=0)
        return self.run(self.inputs(batch), batch["mask"], positions, prefix=batch["prefix"])

    def loss(self, batch: dict) -> torch.Tensor:
        logits = self(batch)
        return F.cross_entropy(logits.flatten(0, 1).float(), batch["targets"].flatten(), ignore_index=IGNORE)

    # -- decoding --------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, conversations: list[list[Segment]], max_new_tokens: int = 32, beams: int = 1,
                 temperature: float = 0.0, top_p: float = 1.0, stop: list[str] | None = None,
                 generator: torch.Generator | None = None) -> list[str]:
        """The text the model writes after each conversation (whose last segment is read).
        temperature 0: greedy (or beam search with beams > 1); above 0: sampling, from the
        smallest set of words whose probability reaches top_p."""
        final = deque(self.steps(conversations, max_new_tokens, beams, temperature, top_p, stop, generator), maxlen=1)
        return final[0].texts(self, stop)

    @torch.no_grad()
    def steps(self, conversations: list[list[Segment]], max_new_tokens: int = 32, beams: int = 1,
              temperature: float = 0.0, top_p: float = 1.0, stop: list[str] | None = None,
              generator: torch.Generator | None = None) -> Iterator["Written"]:
        """Decoding one token at a time (see generate): after each, what each conversation's
        reply is so far (for beam search, its best beam's)."""
        Decoding(max_new_tokens, temperature, top_p, beams, tuple(stop or ()))     # checked as a chat's are
        batch = self.assemble(conversations, answer_next=True)
        read = batch["mask"].sum(1).tolist()
        # positions past the last one the model learnt would be read as that one: a reply stops
        # there ("length"), and a conversation that leaves no room is refused
        room = self.config.max_positions - max(read)
        if room < 1:
            raise InputError(f"a conversation of {max(read)} positions leaves no room for a reply; this model takes "
                             f"{self.config.max_positions}")
        max_new_tokens = min(max_new_tokens, room)
        x, mask, prefix = left_aligned(self.inputs(batch), batch["mask"], batch["prefix"])
        if beams > 1:
            x, mask, prefix = (t.repeat_interleave(beams, 0) for t in (x, mask, prefix))
        caches = [{} for _ in self.blocks]
        positions = (mask.long().cumsum(1) - 1).clamp(min=0)
        logits = self.run(x, mask, positions, caches, prefix=prefix)[:, -1]
        n = len(conversations)
        written = torch.zeros(len(x), 0, dtype=torch.long, device=x.device)
        scores = torch.zeros(n, beams, device=x.device)
        scores[:, 1:] = float("-inf")                     # all beams start as one prefix
        done = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        logprob = torch.zeros(len(x), device=x.device)     # of what each row wrote (sampling: before tempering)
        next_position = positions[:, -1] + 1
        vocab = len(self.config.vocab)
        rows_of_best = torch.arange(n, device=x.device) * beams
        for _ in range(max_new_tokens):
            full = logits.float().log_softmax(-1)
            logp = full.clone()
            logp[:, :len(SPECIALS)] = float("-inf")       # words and <eos> only
            logp[:, self.eos] = full[:, self.eos]
            logp[done] = float("-inf")
            logp[done, 0] = 0.0                           # finished: pad for free
            if beams > 1:
                total = (scores.view(-1, 1) + logp).view(n, beams * vocab)
                scores, flat = total.topk(beams, dim=-1)
                rows = (torch.arange(n, device=x.device).unsqueeze(1) * beams + flat // vocab).view(-1)
                token = (flat % vocab).view(-1)
                written, done, mask, next_position = written[rows], done[rows], mask[rows], next_position[rows]
                logprob = scores.view(-1)
                for cache in caches:
                    cache["k"], cache["v"] = cache["k"][rows], cache["v"][rows]
            elif temperature > 0:
                token = sample(logp, temperature, top_p, generator)
            else:
                token = logp.argmax(-1)
            if beams == 1:
                logprob = logprob + logp.gather(1, token.unsqueeze(1)).squeeze(1)
            written = torch.cat([written, token.unsqueeze(1)], 1)
            done = done | (token == self.eos) | (token == 0)
            if stop:
                done = done | torch.tensor([any(s in self.decode(w) for s in stop) for w in written.tolist()],
                                           device=x.device)
            best = rows_of_best + scores.argmax(-1) if beams > 1 else rows_of_best
            yield Written(written[best].tolist(), done[best].tolist(), read, logprob[best].exp().tolist())
            if done.all():
                break
            step_mask = ~(token == 0).unsqueeze(1)
            logits = self.run(self.word_vectors(token).unsqueeze(1), step_mask, next_position.unsqueeze(1), caches,
                              mask)[:, -1]
            mask = torch.cat([mask, step_mask], 1)
            next_position = next_position + 1

    def decode(self, ids: list[int]) -> str:
        ids = ids[:ids.index(self.eos)] if self.eos in ids else ids
        return join_words(self.config.vocab[i] for i in ids if i >= len(SPECIALS))

    # -- chats (core/chat.ChatModel) -------------------------------------------------
    def conversation(self, chat: list[Message]) -> list[Segment]:
        """Messages -> segments: the user's texts and images are read, the assistant's texts
        written; a system message is left out (this model was taught none)."""
        check_chat(chat)
        segments = []
        for message in chat:
            if message.role == "system":
                continue
            for part in message.parts:
                if part.kind == "audio":
                    raise InputError("this model reads no audio: transcribe the question first")
                if part.kind == "image":
                    segments.append(Segment(image=self.image_encoder.processor([part.value])[0]))
                elif message.role == "assistant":
                    segments.append(Segment(text=part.value, written=True))
                else:
                    segments.append(Segment(text=part.value))
        return segments

    def reply(self, chats: list[list[Message]], decoding: Decoding) -> list[Reply]:
        self.eval()
        final = deque(self.steps(*self.decoding_arguments([self.conversation(c) for c in chats], decoding)), maxlen=1)
        return final[0].replies(self, decoding.stop)

    def drafts(self, chat: list[Message], decoding: Decoding) -> Generator[Reply, None, None]:
        self.eval()
        for state in self.steps(*self.decoding_arguments([self.conversation(chat)], decoding)):
            yield state.replies(self, decoding.stop)[0]

    def decoding_arguments(self, conversations: list[list[Segment]], decoding: Decoding) -> tuple:
        generator = None if decoding.seed is None else torch.Generator().manual_seed(decoding.seed)
        return (conversations, decoding.max_new_tokens, decoding.beams, decoding.temperature, decoding.top_p,
                list(decoding.stop), generator)

    def prompt_for(self, task: str, text: str | None = None) -> str:
        """The prompts it was taught (tasks/vlm.py): a question as it is, "caption",
        "locate: <phrase>", "read"."""
        prompts = {"vqa": text, "caption": "caption", "ground": f"locate: {text}", "read": "read"}
        if task not in prompts:
            raise InputError(f"polymodal's vlm is not taught {task}")
        return prompts[task]

    def box_from(self, reply: str, width: int, height: int) -> list[float]:
        return box_of(reply, width, height)


@dataclass
class Written:
    """Decoding's state after a step: per conversation, the token ids written (up to and
    perhaps past <eos>), whether it is finished, and how many positions it read."""

    ids: list[list[int]]
    done: list[bool]
    read: list[int]
    probability: list[float]       # of the tokens written so far

    def texts(self, model: VisionLanguageModel, stop: list[str] | tuple | None) -> list[str]:
        return [cut_at(model.decode(ids), stop) for ids in self.ids]

    def replies(self, model: VisionLanguageModel, stop) -> list[Reply]:
        out = []
        for ids, done, read, p, text in zip(self.ids, self.done, self.read, self.probability,
                                            self.texts(model, stop)):
            count = next((i for i, t in enumerate(ids) if t in (model.eos, 0)), len(ids))
            out.append(Reply(text, read, count + (model.eos in ids), "stop" if done else "length", p))
        return out


def location_words(box, width: int, height: int) -> str:
    """[x0, y0, x1, y1] in pixels -> "locA locB locC locD": each corner's bin among
    LOCATION_BINS equal bins of the width (x) or height (y) (the Pix2Seq and PaliGemma way)."""
    bins = [min(LOCATION_BINS - 1, max(0, int(v / side * LOCATION_BINS)))
            for v, side in zip(box, (width, height, width, height))]
    return " ".join(f"loc{b}" for b in bins)


def box_of(text: str, width: int, height: int) -> list[float]:
    """Location words back to a box in pixels: each corner's bin, the far corner's to its end;
    anything else is no box ([0, 0, 0, 0], which overlaps nothing)."""
    words = split_words(text)
    if len(words) != 4 or not all(w.startswith("loc") and w[3:].isdigit() for w in words):
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0, x1, y1 = (int(w[3:]) for w in words)
    step_x, step_y = width / LOCATION_BINS, height / LOCATION_BINS
    return [x0 * step_x, y0 * step_y, (x1 + 1) * step_x, (y1 + 1) * step_y]


def left_aligned(x: torch.Tensor, mask: torch.Tensor, prefix: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Right-padded rows moved to end together (padding first), so that each row's next token
    goes to the same column; the mask and prefix moved with them."""
    out, moved, moved_prefix = torch.zeros_like(x), torch.zeros_like(mask), torch.zeros_like(prefix)
    for i, n in enumerate(mask.sum(1).tolist()):
        out[i, x.shape[1] - n:], moved[i, x.shape[1] - n:] = x[i, :n], True
        moved_prefix[i, x.shape[1] - n:] = prefix[i, :n]
    return out, moved, moved_prefix


def sample(logp: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    """A token per row from softmax(logp / temperature), among the smallest set of most likely
    tokens whose probability reaches top_p (nucleus sampling)."""
    probs = (logp / temperature).softmax(-1)
    ordered, order = probs.sort(-1, descending=True)
    outside = ordered.cumsum(-1) - ordered >= top_p        # the tokens past the nucleus
    ordered = ordered.masked_fill(outside, 0.0)
    chosen = torch.multinomial(ordered / ordered.sum(-1, keepdim=True), 1, generator=generator)
    return order.gather(-1, chosen).squeeze(-1)


def conversation_words(conversations: list[list[Segment]]) -> list[str]:
    """Every word of the texts, for a new model's vocabulary."""
    return sorted({w for conv in conversations for s in conv if s.text for w in split_words(s.text)})
