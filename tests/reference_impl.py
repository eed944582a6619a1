"""A deliberately naive re-statement of the authors' model classes and scripts.

It shares no code with clamp_cli: the module and parameter names follow the
authors' classes (CLaMP 1 `CLaMP`/`MusicEncoder`, CLaMP 2/3 `M3PatchEncoder`,
`CLaMP3Model`), patches go through a full one-hot matmul, and every input is
encoded alone, one segment at a time, padded to the full segment length, as
the extraction scripts do. Tests and the benchmark compare clamp against it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, BertConfig, BertModel
from unidecode import unidecode

DELIMS = ["|:", "::", ":|", "[|", "||", "|]", "|"]
SPLITTER = "(" + "|".join(re.escape(d) for d in DELIMS) + ")"


def ref_split_bars(body: str) -> list[str]:
    bars = [b for b in re.split(SPLITTER, body) if b != ""]
    if bars[0] in DELIMS:
        bars[1] = bars[0] + bars[1]
        bars = bars[1:]
    return [bars[2 * i] + bars[2 * i + 1] for i in range(len(bars) // 2)]


# -- CLaMP 2/3 ------------------------------------------------------------------

def ref_m3_patches(item: str, clamp3: bool, patch_size: int = 64) -> list[list[int]]:
    if clamp3:
        item = item.replace("L:1/8\n", "")
    item = unidecode(item)
    lines = [x for x in re.findall(r".*?\n|.*$", item) if x]
    patches = []
    if lines[0].split(" ")[0] == "ticks_per_beat":
        cur = ""
        for line in lines:
            head = line.split(" ")[0]
            tail = " ".join(line.split(" ")[1:])
            if cur.startswith(head) and len(cur) + len(tail) <= patch_size - 2:
                cur = cur[:-1] + "\t" + tail
            else:
                if cur:
                    patches.append(cur)
                cur = line
        if cur != "":
            patches.append(cur)
    else:
        for line in lines:
            if len(line) > 1 and ((line[0].isalpha() and line[1] == ":") or line.startswith("%%")):
                patches.append(line)
            else:
                bars = ref_split_bars(line)
                if bars:
                    bars[-1] += "\n"
                    patches += bars
    patches = [chr(1) * patch_size] + patches + [chr(2) * patch_size]
    out = []
    for p in patches:
        ids = ([1] + [ord(c) for c in p] + [2])[:patch_size]
        out.append(ids + [0] * (patch_size - len(ids)))
    return out


class RefM3PatchEncoder(torch.nn.Module):
    def __init__(self, config, patch_size=64):
        super().__init__()
        self.patch_size = patch_size
        self.patch_embedding = torch.nn.Linear(patch_size * 128, config.hidden_size)
        self.base = BertModel(config=config)

    def forward(self, patches, masks):
        x = torch.nn.functional.one_hot(patches, num_classes=128)
        x = x.reshape(len(x), -1, self.patch_size * 128).type(torch.FloatTensor)
        return self.base(inputs_embeds=self.patch_embedding(x), attention_mask=masks)


def _pool(h, m):
    m = m.unsqueeze(-1)
    return (h * m).sum(dim=1) / m.sum(dim=1)


class RefCLaMP3Model(torch.nn.Module):
    """Authors' CLaMP3Model layout (also CLaMP2Model's with music_* names)."""

    def __init__(self, text_config, symbolic_config, audio_config=None, hidden_size=768, clamp2=False):
        super().__init__()
        self.clamp2 = clamp2
        self.text_model = AutoModel.from_config(text_config)
        self.text_proj = torch.nn.Linear(text_config.hidden_size, hidden_size)
        sym = RefM3PatchEncoder(symbolic_config)
        proj = torch.nn.Linear(symbolic_config.hidden_size, hidden_size)
        if clamp2:
            self.music_model, self.music_proj = sym, proj
        else:
            self.symbolic_model, self.symbolic_proj = sym, proj
            self.audio_model = BertModel(audio_config)
            self.audio_proj = torch.nn.Linear(audio_config.hidden_size, hidden_size)

    def text_features(self, ids, masks):
        h = self.text_model(ids, attention_mask=masks)["last_hidden_state"]
        return self.text_proj(_pool(h, masks))

    def symbolic_features(self, ids, masks):
        enc, proj = (self.music_model, self.music_proj) if self.clamp2 else (self.symbolic_model, self.symbolic_proj)
        return proj(_pool(enc(ids, masks)["last_hidden_state"], masks))

    def audio_features(self, x, masks):
        h = self.audio_model(inputs_embeds=x, attention_mask=masks)["last_hidden_state"]
        return self.audio_proj(_pool(h, masks))


def ref_extract(model, kind, data, max_len, pad_id=0, audio_dim=None):
    """The extraction script's loop: segments, last one anchored to the end, padded to max_len."""
    data = torch.as_tensor(data)
    segs = [data[i:i + max_len] for i in range(0, len(data), max_len)]
    segs[-1] = data[-max_len:]
    vecs = []
    for seg in segs:
        mask = torch.cat((torch.ones(seg.size(0)), torch.zeros(max_len - seg.size(0))), 0)
        if kind == "text":
            pad = torch.ones(max_len - seg.size(0)).long() * pad_id
        elif kind == "music":
            pad = torch.ones((max_len - seg.size(0), seg.size(1))).long() * 0
        else:
            pad = torch.zeros((max_len - seg.size(0), audio_dim))
        seg = torch.cat((seg, pad), 0).unsqueeze(0)
        fn = {"text": model.text_features, "music": model.symbolic_features, "audio": model.audio_features}[kind]
        vecs.append(fn(seg, mask.unsqueeze(0)))
    full, rem = len(data) // max_len, len(data) % max_len
    w = torch.tensor([max_len] * full + ([rem] if rem else [])).view(-1, 1)
    return ((torch.cat(vecs, 0) * w).sum(dim=0) / w.sum()).numpy()


def ref_text_file_tokens(tokenizer, content: str) -> list[int]:
    seen = []
    for line in content.split("\n"):
        if line and line not in seen:
            seen.append(line)
    return tokenizer(tokenizer.sep_token.join(seen))["input_ids"]


def ref_audio_frames(arr: np.ndarray) -> torch.Tensor:
    x = torch.tensor(arr).float()
    x = x.reshape(-1, x.size(-1))
    z = torch.zeros((1, x.size(-1)))
    return torch.cat((z, x, z), 0)


# -- CLaMP 1 -------------------------------------------------------------------

def ref_clamp1_filter(xml2abc_output: str) -> str:
    lines = unidecode(xml2abc_output.replace("\r", "")).split("\n")
    drop = ["A:", "B:", "C:", "D:", "F:", "G", "H:", "N:", "O:", "R:", "r:", "S:", "T:", "W:", "w:", "X:", "Z:"]
    music = ""
    for line in lines:
        if line[:2] in drop or line == "\n" or (line.startswith("%") and not line.startswith("%%score")):
            continue
        if "%" in line and not line.startswith("%%score"):
            line = "%".join(line.split("%")[:-1])
            music += line[:-1] + "\n"
        else:
            music += line + "\n"
    return music


def _c1_bar(bar, n=64):
    patch = [0] * n
    for i in range(min(n, len(bar))):
        if 32 <= ord(bar[i]) < 127:
            patch[i] = ord(bar[i]) - 31
    if i + 1 < n:
        patch[i + 1] = 97
    return patch


def ref_clamp1_patches(music: str, music_length: int) -> list[list[int]]:
    lines = unidecode(music).split("\n")
    try:
        lines.remove("")
    except ValueError:
        pass
    body, patches = "", []
    for line in lines:
        if len(line) > 1 and ((line[0].isalpha() and line[1] == ":") or line.startswith("%%score")):
            if body != "":
                patches += [_c1_bar(b) for b in ref_split_bars(body)]
                body = ""
            patches.append(_c1_bar(line))
        else:
            body += line
    if body != "":
        patches += [_c1_bar(b) for b in ref_split_bars(body)]
    patches.append([97] * 64)
    return patches[:music_length]


class RefMusicEncoder(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.patch_embedding = torch.nn.Linear(64 * 98, config.hidden_size)
        self.enc = BertModel(config=config)

    def forward(self, x, masks):
        x = torch.nn.functional.one_hot(x, num_classes=98).reshape(len(x), -1, 64 * 98).type(torch.FloatTensor)
        return self.enc(inputs_embeds=self.patch_embedding(x), attention_mask=masks)


class RefCLaMP(torch.nn.Module):
    def __init__(self, config, text_config):
        super().__init__()
        self.text_enc = AutoModel.from_config(text_config)
        self.text_proj = torch.nn.Linear(config.hidden_size, config.hidden_size)
        self.music_enc = RefMusicEncoder(config)
        self.music_proj = torch.nn.Linear(config.hidden_size, config.hidden_size)

    def music_vector(self, patches):
        ids = torch.tensor(patches).reshape(-1).unsqueeze(0)
        masks = torch.tensor([1] * (ids.shape[1] // 64)).unsqueeze(0)
        h = self.music_enc(ids.reshape(1, -1, 64), masks)["last_hidden_state"]
        return self.music_proj(_pool(h, masks))[0].numpy()

    def text_vector(self, tokenizer, query: str):
        ids = tokenizer(unidecode(query), return_tensors="pt", truncation=True, max_length=128)["input_ids"]
        masks = torch.tensor([1] * ids.shape[1]).unsqueeze(0)
        h = self.text_enc(ids, attention_mask=masks)["last_hidden_state"]
        return self.text_proj(_pool(h, masks))[0].numpy()


def load_reference(path, text_backbone, family):
    """Build the reference model the way the authors' scripts do and load strictly."""
    text_config = AutoConfig.from_pretrained(str(text_backbone))
    if family == "clamp1":
        import json
        cfg = json.loads((path / "config.json").read_text())
        cfg = {k: v for k, v in cfg.items() if k not in ("architectures", "model_type", "max_length")}
        model = RefCLaMP(BertConfig(**cfg), text_config)
        state = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        state = ckpt["model"]
        sym = state["music_model.patch_embedding.weight" if family == "clamp2" else "symbolic_model.patch_embedding.weight"]
        hidden = sym.shape[0]
        prefix = "music_model.base." if family == "clamp2" else "symbolic_model.base."
        layers = len({k[len(prefix):].split(".")[2] for k in state if k.startswith(prefix + "encoder.layer.")})
        pos = state[prefix + "embeddings.position_embeddings.weight"].shape[0]
        sym_cfg = BertConfig(vocab_size=1, hidden_size=hidden, num_hidden_layers=layers,
                             num_attention_heads=hidden // 64, intermediate_size=hidden * 4,
                             max_position_embeddings=pos)
        audio_cfg = None
        if family == "clamp3":
            apos = state["audio_model.embeddings.position_embeddings.weight"].shape[0]
            audio_cfg = BertConfig(vocab_size=1, hidden_size=hidden, num_hidden_layers=layers,
                                   num_attention_heads=hidden // 64, intermediate_size=hidden * 4,
                                   max_position_embeddings=apos)
        dim = state["text_proj.weight"].shape[0]
        model = RefCLaMP3Model(text_config, sym_cfg, audio_cfg, hidden_size=dim, clamp2=family == "clamp2")
        state = {k: v for k, v in state.items() if not k.endswith(("position_ids", "token_type_ids"))}
    model.load_state_dict(state, strict=True)
    return model.eval()


# -- MERT (CLaMP 3's `preprocessing/audio/`) ------------------------------------------------

class RefMusicHubertProjection(torch.nn.Module):
    """The authors' feature projection, CQT branch off: optional LayerNorm, Linear, dropout."""

    def __init__(self, config):
        super().__init__()
        self.feat_proj_layer_norm = config.feat_proj_layer_norm
        if self.feat_proj_layer_norm:
            self.layer_norm = torch.nn.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps)
        self.projection = torch.nn.Linear(config.conv_dim[-1], config.hidden_size)
        self.dropout = torch.nn.Dropout(config.feat_proj_dropout)

    def forward(self, x):
        if self.feat_proj_layer_norm:
            x = self.layer_norm(x)
        return self.dropout(self.projection(x))


def ref_music_hubert(config):
    """The authors' `MusicHubertModel` with its extras off (CQT, deepnorm, attention relaxation):
    HubertModel's parts assembled by hand, as their class does, its own projection in the middle."""
    from transformers import HubertModel
    from transformers.models.hubert import modeling_hubert as mh

    class RefMusicHubertModel(HubertModel):
        def __init__(self, cfg):
            super(HubertModel, self).__init__(cfg)     # the grandparent's init, as the authors do
            self.config = cfg
            self.feature_extractor = mh.HubertFeatureEncoder(cfg)
            self.feature_projection = RefMusicHubertProjection(cfg)
            if cfg.mask_time_prob > 0.0 or cfg.mask_feature_prob > 0.0:
                self.masked_spec_embed = torch.nn.Parameter(torch.empty(cfg.hidden_size).uniform_())
            self.encoder = (mh.HubertEncoderStableLayerNorm(cfg) if cfg.do_stable_layer_norm
                            else mh.HubertEncoder(cfg))
            self.post_init()

        def forward(self, input_values):
            """The hidden states the authors' transformers release returned: the encoder's input after
            the positional conv, LayerNorm and dropout, then each layer's output (the encoder is
            walked by hand, as current releases collect them at the model level only)."""
            h = self.feature_projection(self.feature_extractor(input_values).transpose(1, 2))
            enc = self.encoder
            h = enc.dropout(enc.layer_norm(h + enc.pos_conv_embed(h)))
            states = [h]
            for layer in enc.layers:
                out = layer(h)
                h = out[0] if isinstance(out, tuple) else out
                states.append(h)
            return states

    return RefMusicHubertModel(config)


def save_mert(folder: Path, model, config) -> Path:
    """A MERT model folder as m-a-p/MERT-v1-95M lays it out on the hub (pytorch_model.bin and a
    config.json of model_type mert_model, its extras off), for clamp to load."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps({
        **config.to_dict(), "model_type": "mert_model", "architectures": ["MERTModel"],
        "feature_extractor_cqt": False, "deepnorm": False, "attention_relax": -1.0}))
    return folder


def ref_resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    """torchaudio's Resample defaults as their formula: y[j] = sum_i x[i] h(i/orig - j/new), h a
    Hann-windowed sinc with 6 zero crossings and roll-off .99, in float64, one output at a time
    over the inputs the window reaches."""
    g = np.gcd(orig, new)
    o, n = orig // g, new // g
    cutoff = min(o, n) * 0.99
    out = np.zeros(int(np.ceil(n * len(x) / o)))
    reach = int(np.ceil(6 * o / cutoff)) + 1
    for j in range(len(out)):
        centre = j * o // n
        i = np.arange(max(0, centre - reach), min(len(x), centre + reach + 2))
        t = np.clip((i / o - j / n) * cutoff, -6, 6)
        h = np.where(t == 0, 1.0, np.sin(np.pi * t) / np.where(t == 0, 1.0, np.pi * t)) * np.cos(t * np.pi / 12) ** 2
        out[j] = float((x[i].astype(np.float64) * h).sum() * cutoff / o)
    return out.astype(np.float32)


def ref_mert_features(model, waveform_24k: np.ndarray) -> np.ndarray:
    """`extract_mert.py --mean_features`: the processor normalises the whole (1, n) waveform, 5 s
    windows one at a time (a last one under 1 s dropped), 13 hidden states each averaged over time,
    windows concatenated, then the layers averaged -> (1, W, H)."""
    from transformers import Wav2Vec2FeatureExtractor

    processor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0,
                                         return_attention_mask=True, do_normalize=True)
    wav = processor(torch.from_numpy(waveform_24k)[None], return_tensors="pt", sampling_rate=24000,
                    padding=True).input_values[0]
    chunks = [wav[:, i:i + 120_000] for i in range(0, wav.shape[-1], 120_000)]
    if chunks[-1].shape[-1] < 24_000:
        chunks = chunks[:-1]
    feats = []
    with torch.no_grad():
        for chunk in chunks:
            hidden = torch.stack(model(chunk))   # (L, 1, T, H)
            feats.append(hidden.mean(-2))
    return torch.cat(feats, dim=1).mean(dim=0, keepdim=True).numpy()
