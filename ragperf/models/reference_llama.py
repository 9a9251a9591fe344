"""A plain-PyTorch Llama for decode (gpt-fast style): the speed a compiled decode step can reach.

No transformers code runs in its forward: fused QKV and gate/up projections, RMSNorm, rotary
embeddings from a precomputed table, grouped-query attention through SDPA over a static KV cache
(:class:`KVCache`, one per batch size, its tensors at static addresses for CUDA graphs).
:func:`from_hf` maps a ``LlamaForCausalLM``'s state dict onto it (same tensors for the unfused
weights, tied embeddings kept tied), so both models decode the same weights.

Ragged batches: ``key_valid`` [B, max_len] marks the slots a row may attend to (False for its left
padding) and ``positions`` [B, T] gives each row's rotary positions (padding shifted out), the same
contract as an HF attention mask + position ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ragperf.errors import RagperfError
from ragperf.models import decode_modes

ROPE_TYPES = ("default", "llama3")


@dataclass(frozen=True)
class LlamaShape:
    vocab_size: int
    dim: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    eps: float
    tied: bool
    rope: dict

    @classmethod
    def from_config(cls, config) -> LlamaShape:
        """The shape of an HF ``LlamaConfig``; RagperfError for features the reference does not implement."""
        rope = dict(getattr(config, "rope_parameters", None) or {})
        rope.setdefault("rope_type", "default")
        rope.setdefault("rope_theta", getattr(config, "rope_theta", 10000.0))
        unsupported = [name for name, bad in (
            (f"rope_type {rope['rope_type']!r}", rope["rope_type"] not in ROPE_TYPES),
            ("attention_bias", getattr(config, "attention_bias", False)),
            ("mlp_bias", getattr(config, "mlp_bias", False)),
            (f"hidden_act {config.hidden_act!r}", config.hidden_act != "silu")) if bad]
        if unsupported or getattr(config, "model_type", "llama") != "llama":
            raise RagperfError(f"the reference Llama cannot run this config ({', '.join(unsupported) or config.model_type}); "
                               "use a Llama checkpoint with default or llama3 rope, no biases, silu")
        heads = config.num_attention_heads
        return cls(vocab_size=config.vocab_size, dim=config.hidden_size, layers=config.num_hidden_layers,
                   heads=heads, kv_heads=config.num_key_value_heads or heads,
                   head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads,
                   intermediate=config.intermediate_size, eps=config.rms_norm_eps,
                   tied=bool(config.tie_word_embeddings), rope=rope)


def rope_inv_freq(shape: LlamaShape) -> torch.Tensor:
    """Inverse rotary frequencies [head_dim / 2], with Llama 3's frequency-dependent scaling if configured."""
    rope, dim = shape.rope, shape.head_dim
    inv_freq = 1.0 / (rope["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if rope["rope_type"] != "llama3":
        return inv_freq
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old_len = rope["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > old_len / low, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old_len / high) & (wavelen <= old_len / low)
    return torch.where(medium, smoothed, scaled)


class KVCache:
    """K and V for every layer [batch, kv_heads, max_len, head_dim], plus the rotary and mask tables."""

    def __init__(self, shape: LlamaShape, batch: int, max_len: int, device, dtype) -> None:
        self.batch, self.max_len = batch, max_len
        dims = (batch, shape.kv_heads, max_len, shape.head_dim)
        self.k = [torch.zeros(dims, device=device, dtype=dtype) for _ in range(shape.layers)]
        self.v = [torch.zeros(dims, device=device, dtype=dtype) for _ in range(shape.layers)]
        freqs = torch.outer(torch.arange(max_len, dtype=torch.float32), rope_inv_freq(shape)).to(device)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos().to(dtype), emb.sin().to(dtype)
        self.causal = torch.ones(max_len, max_len, dtype=torch.bool, device=device).tril()
        self.diagonal = torch.eye(max_len, dtype=torch.bool, device=device)
        for tensor in (*self.k, *self.v, self.cos, self.sin, self.causal, self.diagonal):
            torch._dynamo.mark_static_address(tensor)  # CUDA graphs read them in place, never copy them

    def reset(self) -> None:
        for tensor in (*self.k, *self.v):
            tensor.zero_()


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        return self.weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


class Block(nn.Module):
    def __init__(self, s: LlamaShape, index: int) -> None:
        super().__init__()
        self.s, self.index = s, index
        self.attention_norm, self.ffn_norm = RMSNorm(s.dim, s.eps), RMSNorm(s.dim, s.eps)
        self.wqkv = nn.Linear(s.dim, (s.heads + 2 * s.kv_heads) * s.head_dim, bias=False)
        self.wo = nn.Linear(s.heads * s.head_dim, s.dim, bias=False)
        self.w13 = nn.Linear(s.dim, 2 * s.intermediate, bias=False)
        self.w2 = nn.Linear(s.intermediate, s.dim, bias=False)

    def forward(self, x, input_pos, cache: KVCache, cos, sin, mask) -> torch.Tensor:
        s, (b, t, _) = self.s, x.shape
        q, k, v = self.wqkv(self.attention_norm(x)).split(
            [s.heads * s.head_dim, s.kv_heads * s.head_dim, s.kv_heads * s.head_dim], dim=-1)
        q = _rotate(q.view(b, t, s.heads, s.head_dim).transpose(1, 2), cos, sin)
        k = _rotate(k.view(b, t, s.kv_heads, s.head_dim).transpose(1, 2), cos, sin)
        v = v.view(b, t, s.kv_heads, s.head_dim).transpose(1, 2)
        keys, values = cache.k[self.index], cache.v[self.index]
        keys[:, :, input_pos] = k
        values[:, :, input_pos] = v
        group = s.heads // s.kv_heads
        y = F.scaled_dot_product_attention(q, keys.repeat_interleave(group, dim=1),
                                           values.repeat_interleave(group, dim=1), attn_mask=mask)
        x = x + self.wo(y.transpose(1, 2).reshape(b, t, s.heads * s.head_dim))
        gate, up = self.w13(self.ffn_norm(x)).chunk(2, dim=-1)
        return x + self.w2(F.silu(gate) * up)


class ReferenceLlama(nn.Module):
    """``forward(ids [B, T], input_pos [T], cache)`` -> next-token logits [B, vocab] at the last position."""

    def __init__(self, shape: LlamaShape) -> None:
        super().__init__()
        self.shape = shape
        self.tok_embeddings = nn.Embedding(shape.vocab_size, shape.dim)
        self.layers = nn.ModuleList(Block(shape, i) for i in range(shape.layers))
        self.norm = RMSNorm(shape.dim, shape.eps)
        self.output = nn.Linear(shape.dim, shape.vocab_size, bias=False)

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        weight = self.output.weight
        return KVCache(self.shape, batch, max_len, weight.device, weight.dtype)

    def forward(self, ids: torch.Tensor, input_pos: torch.Tensor, cache: KVCache,
                key_valid: torch.Tensor | None = None, positions: torch.Tensor | None = None) -> torch.Tensor:
        rows = input_pos[None, :] if positions is None else positions
        cos, sin = cache.cos[rows].unsqueeze(1), cache.sin[rows].unsqueeze(1)  # [B or 1, 1, T, head_dim]
        mask = cache.causal[input_pos][None, None]
        if key_valid is not None:  # a padding slot still sees itself: no all-masked row (NaN in SDPA)
            mask = mask & (key_valid[:, None, None, :] | cache.diagonal[input_pos][None, None])
        x = self.tok_embeddings(ids)
        for layer in self.layers:
            x = layer(x, input_pos, cache, cos, sin, mask)
        return self.output(self.norm(x[:, -1, :]))


def hf_state_dict_map(hf_state: dict[str, torch.Tensor], shape: LlamaShape) -> dict[str, torch.Tensor]:
    """The reference's state dict from an HF ``LlamaForCausalLM`` state dict (q/k/v and gate/up fused)."""
    embed = hf_state["model.embed_tokens.weight"]
    out = {"tok_embeddings.weight": embed, "norm.weight": hf_state["model.norm.weight"],
           "output.weight": embed if shape.tied else hf_state["lm_head.weight"]}
    for i in range(shape.layers):
        hf = f"model.layers.{i}."
        out[f"layers.{i}.wqkv.weight"] = torch.cat([hf_state[hf + f"self_attn.{n}_proj.weight"] for n in "qkv"])
        out[f"layers.{i}.wo.weight"] = hf_state[hf + "self_attn.o_proj.weight"]
        out[f"layers.{i}.w13.weight"] = torch.cat([hf_state[hf + "mlp.gate_proj.weight"],
                                                    hf_state[hf + "mlp.up_proj.weight"]])
        out[f"layers.{i}.w2.weight"] = hf_state[hf + "mlp.down_proj.weight"]
        out[f"layers.{i}.attention_norm.weight"] = hf_state[hf + "input_layernorm.weight"]
        out[f"layers.{i}.ffn_norm.weight"] = hf_state[hf + "post_attention_layernorm.weight"]
    return out


def from_hf(model: nn.Module) -> ReferenceLlama:
    """A :class:`ReferenceLlama` holding ``model``'s weights (an HF ``LlamaForCausalLM``), in eval mode."""
    shape = LlamaShape.from_config(model.config)
    with torch.device("meta"):
        reference = ReferenceLlama(shape)
    reference.load_state_dict(hf_state_dict_map(model.state_dict(), shape), strict=True, assign=True)
    if shape.tied:
        reference.output.weight = reference.tok_embeddings.weight
    return reference.eval()


class ReferenceGenerator:
    """The reference with a reference-family decode mode applied (:mod:`ragperf.models.decode_modes`):
    ``generate`` as :class:`~ragperf.models.generation.Generator`.

    One :class:`KVCache` per (batch, length), reset between generations; the compiled phases are
    compiled ``dynamic=False, fullgraph=True``, with the mode's CUDA settings on CUDA only.
    """

    def __init__(self, decoder, mode: str = "reference-eager", backend: str = "inductor") -> None:
        chosen = decode_modes.mode(mode)
        if chosen.family != "reference":
            raise RagperfError(f"{mode!r} is not a reference mode; choose from {', '.join(decode_modes.names('reference'))}")
        self.decoder, self.mode, self.cache = decoder, mode, "static"
        self.model = from_hf(decoder.model)
        compiled = self.model
        if chosen.compiles:
            on_cuda = decoder.device.type == "cuda" and backend == "inductor"
            compiled = torch.compile(self.model, backend=backend, dynamic=False, fullgraph=True,
                                     **(chosen.cuda if on_cuda else {}))
        self.prefill_fn, self.decode_fn = (compiled if phase in chosen.compiles else self.model
                                           for phase in decode_modes.PHASES)
        self._caches: dict[tuple[int, int], KVCache] = {}

    def generate(self, prompt: torch.Tensor, new_tokens: int, record_logits: bool = False,
                 attention_mask: torch.Tensor | None = None, on_token=None):
        from ragperf.models.generation import greedy_loop

        key = (prompt.shape[0], prompt.shape[1] + new_tokens)
        with torch.inference_mode():
            if key in self._caches:
                self._caches[key].reset()
            else:
                self._caches[key] = self.model.new_cache(*key)
            cache = self._caches[key]

            def step(fn):
                return lambda ids, pos, positions, mask: fn(ids, pos, cache, None if mask is None else mask.bool(),
                                                            positions)
            return greedy_loop(step(self.prefill_fn), step(self.decode_fn), prompt, new_tokens, self.decoder.device,
                               record_logits, attention_mask, on_token)
